"""4.1 Reactive power compensation (served).

* `power_factor`: the reading's signed total displacement PF (exact).
* `required_compensation_kvar`: Qc = P·(tan acos PF1 − tan acos PF2) to the target PF
  (`ModelConfig.target_pf`, from GRIDTWIN_TARGET_PF, default 0.95), exact (gridtwin.physics.power.compensation_var);
  0 when the PF is already at/above the target, leading, or the meter exports (P < 0).
* `recommended_compensation_kvar` / `capacitor_switching_plan`: the feed-forward network's
  power-flow-optimal bank steps (rounded, clipped to the bank sizes) for the meter's feeder.
* `expected_power_factor`: head-end PF after switching in the recommended kvar (bank output
  scaled by (V/Un)^2).
Reading -> feeder mapping as in gridtwin.netopt.state.

Materiality and applicability (docs/decisions.md): banks are switched only when the
lagging PF is below the target by more than `ModelConfig.pf_band` (0.02 by default) and the asset
register lists capacitor banks at the meter (`capacitor_kvar`, which also caps the plan);
otherwise the answer is "no action" (NORMAL, no switching, expected PF = present). A PF below
0.9 without banks to switch is ADVISORY (compensation would have to be installed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.decision.equipment import NO_REGISTER, equipment_of, fetch_equipment
from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, Catalogue, scope_note
from gridtwin.netopt.nn_inputs import nn_inputs
from gridtwin.netopt.serving import head_end, load_feeders
from gridtwin.physics.power import compensation_var, power_factor_signed
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2


class Model(ServedModel):
    name = "reactive_power"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        path = entry.artifact("model")
        self.feeders = load_feeders(path)
        self.catalogue = Catalogue(self.feeders)
        with np.load(path, allow_pickle=False) as z:
            self.mean, self.std = z["mlp_mean"], z["mlp_std"]
        self.net = OnnxModel(entry.artifact("mlp"))  # standardised inputs -> bank steps (float)
        self.target = self.config.target_pf

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        """Which meters have capacitor banks (the asset register)."""
        await fetch_equipment(batch, state, self.name)

    def steps(self, x: np.ndarray) -> np.ndarray:
        """Unrounded bank steps (n, banks); the exported graph answers (n·banks, 1), row-major."""
        return self.net.run_one((x - self.mean) / self.std).reshape(len(x), -1)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.ReactivePower]:
        n = len(batch)
        p = nan_to_num(batch.column("active_power_total_w"))
        q = nan_to_num(batch.column("reactive_power_total_var"))
        pf = power_factor_signed(p, q, undefined=0.0)
        lagging_import = (p > 0) & (q > 0)
        with np.errstate(invalid="ignore"):
            qc = np.where(
                lagging_import,
                np.maximum(compensation_var(p, np.clip(np.abs(pf), 1e-6, 1.0), self.target), 0.0),
                0.0,
            )
        # Out of band: a lagging import PF below the target by more than the band.
        needs = lagging_import & (np.abs(pf) < self.target - self.config.pf_band)
        he = head_end(self.catalogue, batch)
        usable = he.usable & (he.scope.feeder == 0)  # the network is trained on feeder 0's banks
        bank = self.feeders[0]
        steps = np.zeros((n, len(bank.bank_steps)), int)
        if usable.any():
            x = nn_inputs(
                he.p_phase[usable],
                he.q_phase[usable],
                he.v_pu[usable],
                he.scale[usable],
                batch.column("win10min_active_power_total_w_mean")[usable],
                batch.column("win10min_reactive_power_total_var_mean")[usable],
                batch.column("hour_of_day_sin")[usable],
                batch.column("hour_of_day_cos")[usable],
            )
            steps[usable] = np.clip(np.rint(self.steps(x)), 0, bank.bank_steps[None]).astype(int)
        equipment = equipment_of(batch, self.name)
        out = []
        for j in range(n):
            kind = str(he.scope.kind[j])
            note = scope_note(kind, self.feeders[he.scope.feeder[j]].name)
            answer = assessment_pb2.ReactivePower(
                power_factor=float(pf[j]), required_compensation_kvar=float(qc[j] / 1e3)
            )
            if not usable[j] or equipment[j] is None:
                why = (
                    NO_REGISTER
                    if usable[j]
                    else note
                    if kind == KIND_CUSTOMER
                    else f"{note}; no capacitor banks modelled for this feeder"
                )
                severity = assessment_pb2.ADVISORY if needs[j] and abs(pf[j]) < 0.9 else assessment_pb2.NORMAL
                answer.info.CopyFrom(
                    self.info(
                        severity,
                        f"target PF {self.target:g}; Qc exact; {why}; bank recommendation not computed",
                        status=assessment_pb2.DEGRADED,
                    )
                )
                answer.recommended_compensation_kvar = answer.expected_power_factor = float("nan")
                out.append(answer)
                continue
            why = "" if lagging_import[j] else "no PF correction needed (export or leading/zero Q)"
            self.plan(answer, he, j, steps[j], bool(needs[j]), equipment[j].capacitor_kvar, note, kind, why)
            out.append(answer)
        return out

    def plan(
        self,
        answer: assessment_pb2.ReactivePower,
        he: Any,
        j: int,
        steps: np.ndarray,
        needs: bool,
        capacity_kvar: float,
        note: str,
        kind: str,
        why_not: str = "",
    ) -> None:
        """Fill the switching plan (or "no action") of item `j` of a feeder with modelled banks."""
        bank = self.feeders[0]
        pf = answer.power_factor
        why_not = why_not or self.no_action(pf, needs, capacity_kvar)
        if not why_not:
            steps = cap_steps(steps, bank.bank_q_step / 1e3, capacity_kvar)
            if not steps.any():
                why_not = f"PF {pf:.3f}: the loss-optimal setting switches no bank"
        if why_not:
            steps = np.zeros_like(steps)
        kvar = steps * bank.bank_q_step / 1e3  # at Un
        rec = float(kvar.sum())
        q_after = he.q_phase[j].sum() - rec * 1e3 * float(nan_to_num(he.v_pu[j])) ** 2
        expected = float(
            power_factor_signed(np.array([he.p_phase[j].sum()]), np.array([q_after]), undefined=0.0)[0]
        )
        if why_not:
            severity = assessment_pb2.ADVISORY if needs and abs(pf) < 0.9 else assessment_pb2.NORMAL
            detail = f"no action: {why_not}; target PF {self.target:g}; Qc exact; {note}"
        else:
            severity = assessment_pb2.ADVISORY
            detail = (
                f"target PF {self.target:g}; Qc exact; {note}; "
                "recommendation minimises losses with voltages in EN 50160 ±10 %"
            )
        status = assessment_pb2.DEGRADED if kind == KIND_HEAD else assessment_pb2.OK
        answer.info.CopyFrom(self.info(severity, detail, status))
        answer.recommended_compensation_kvar = rec
        answer.expected_power_factor = expected
        answer.capacitor_switching_plan.extend(
            assessment_pb2.CapacitorStep(bank=str(b), steps=int(s), kvar=float(k))
            for b, s, k in zip(bank.bank_names, steps, kvar, strict=True)
        )

    def no_action(self, pf: float, needs: bool, capacity_kvar: float) -> str:
        """Why no bank is switched at a lagging import ("" when switching is due)."""
        if not needs:
            return f"PF {pf:.3f} is within {self.config.pf_band:g} of the target {self.target:g}"
        if capacity_kvar <= 0:
            return f"PF {pf:.3f} is below the target, but the asset register lists no capacitor banks here"
        return ""


def cap_steps(steps: np.ndarray, kvar_per_step: np.ndarray, capacity_kvar: float) -> np.ndarray:
    """The plan's steps with the last banks' steps dropped until it fits the registered kvar."""
    steps = steps.copy()
    for b in range(len(steps) - 1, -1, -1):
        while steps[b] > 0 and float((steps * kvar_per_step).sum()) > capacity_kvar + 1e-9:
            steps[b] -= 1
    return steps
