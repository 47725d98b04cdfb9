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
"""

from __future__ import annotations

import numpy as np

from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, Catalogue, scope_note
from gridtwin.netopt.nn_inputs import nn_inputs
from gridtwin.netopt.serving import head_end, load_feeders
from gridtwin.physics.power import compensation_var, power_factor_signed
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
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

    def steps(self, x: np.ndarray) -> np.ndarray:
        """Unrounded bank steps (n, banks); the exported graph answers (n·banks, 1), row-major."""
        return self.net.run_one((x - self.mean) / self.std).reshape(len(x), -1)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.ReactivePower]:
        n = len(batch)
        p = np.nan_to_num(batch.column("active_power_total_w"))
        q = np.nan_to_num(batch.column("reactive_power_total_var"))
        pf = power_factor_signed(p, q, undefined=0.0)
        lagging_import = (p > 0) & (q > 0)
        with np.errstate(invalid="ignore"):
            qc = np.where(
                lagging_import,
                np.maximum(compensation_var(p, np.clip(np.abs(pf), 1e-6, 1.0), self.target), 0.0),
                0.0,
            )
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
                batch.column("rolling5_active_power_total_w_mean")[usable],
                batch.column("rolling5_reactive_power_total_var_mean")[usable],
                batch.column("hour_of_day_sin")[usable],
                batch.column("hour_of_day_cos")[usable],
            )
            steps[usable] = np.clip(np.rint(self.steps(x)), 0, bank.bank_steps[None]).astype(int)
        kvar_banks = steps * bank.bank_q_step[None] / 1e3  # at Un
        rec = kvar_banks.sum(axis=1)
        p_head = he.p_phase.sum(axis=1)
        q_after = he.q_phase.sum(axis=1) - rec * 1e3 * np.nan_to_num(he.v_pu) ** 2
        expected = power_factor_signed(p_head, q_after, undefined=0.0)
        out = []
        for j in range(n):
            kind = str(he.scope.kind[j])
            note = scope_note(kind, self.feeders[he.scope.feeder[j]].name)
            detail = f"target PF {self.target:g}; Qc exact"
            if not lagging_import[j]:
                detail += "; no PF correction needed (export or leading/zero Q)"
            severity = assessment_pb2.ADVISORY if qc[j] > 0 and abs(pf[j]) < 0.9 else assessment_pb2.NORMAL
            if not usable[j]:
                why = (
                    note if kind == KIND_CUSTOMER else f"{note}; no capacitor banks modelled for this feeder"
                )
                info = self.info(
                    severity,
                    f"{detail}; {why}; bank recommendation not computed",
                    status=assessment_pb2.DEGRADED,
                )
                out.append(
                    assessment_pb2.ReactivePower(
                        info=info,
                        power_factor=float(pf[j]),
                        required_compensation_kvar=float(qc[j] / 1e3),
                        recommended_compensation_kvar=float("nan"),
                        expected_power_factor=float("nan"),
                    )
                )
                continue
            info = self.info(
                severity,
                f"{detail}; {note}; recommendation minimises losses with voltages in EN 50160 ±10 %",
                assessment_pb2.DEGRADED if kind == KIND_HEAD else assessment_pb2.OK,
            )
            plan = [
                assessment_pb2.CapacitorStep(bank=str(b), steps=int(s), kvar=float(k))
                for b, s, k in zip(bank.bank_names, steps[j], kvar_banks[j], strict=True)
            ]
            out.append(
                assessment_pb2.ReactivePower(
                    info=info,
                    power_factor=float(pf[j]),
                    required_compensation_kvar=float(qc[j] / 1e3),
                    recommended_compensation_kvar=float(rec[j]),
                    capacitor_switching_plan=plan,
                    expected_power_factor=float(expected[j]),
                )
            )
        return out
