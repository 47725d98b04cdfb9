"""3.3 Power flow optimisation (served): tap position and capacitor steps from a table of optimal settings.

The reading is mapped onto its feeder's head-end state (gridtwin.netopt.state); the
configuration is the optimum of the nearest state in the feeder's solution table (solved at
training by enumerating every setting on a linear loss/voltage model — the same optimum as the
HiGHS MILP of that model — inside EN 50160 ±10 % narrowed by the model's error on training
states, and verified by full power flow); loss_before (present tap, banks off) and loss_after
are interpolated from the verified power flows. tap_position is
the absolute position with the present one taken as 0 (HV-side tap: +1 lowers the LV
voltage by one step); capacitor_steps are per bank in the order of the bank list in
info.detail. cost_savings per hour = (loss_before - loss_after) / 1000 x tariff, tariff from
`ModelConfig.tariff_per_kwh` (GRIDTWIN_TARIFF_PER_KWH, default 0.30 currency units per kWh).

Materiality and applicability (docs/decisions.md): a setting is recommended (ADVISORY;
WARNING when even the best setting leaves a voltage outside EN 50160 ±10 %) only when it saves at
least `ModelConfig.min_savings_eur_per_h` (1/h by default) and uses only the tap range and
capacitor kvar that the asset register lists at the meter (`tap_steps`, `capacitor_kvar`);
otherwise "no action" (NORMAL, present configuration, no savings), with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gridtwin.assets import Equipment
from gridtwin.decision.equipment import NO_REGISTER, equipment_of, fetch_equipment
from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, Catalogue, scope_note
from gridtwin.netopt.serving import head_end, load_feeders
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2


class Model(ServedModel):
    name = "power_flow_optimization"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.feeders = load_feeders(entry.artifact("model"))
        self.catalogue = Catalogue(self.feeders)
        self.tariff = self.config.tariff_per_kwh

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        """Which meters have a tap changer and capacitor banks (the asset register)."""
        await fetch_equipment(batch, state, self.name)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.PowerFlowOptimization]:
        he = head_end(self.catalogue, batch)
        equipment = equipment_of(batch, self.name)
        n = len(batch)
        tap = np.zeros(n, int)
        steps: list[np.ndarray] = [np.zeros(0, int)] * n
        before = np.full(n, np.nan)
        after = np.full(n, np.nan)
        outside = np.zeros(n, bool)
        viol = np.zeros(n)
        for f, feeder in enumerate(self.feeders):
            rows = np.flatnonzero((he.scope.feeder == f) & he.usable)
            if len(rows) == 0 or feeder.table is None:
                continue
            look = feeder.table.lookup(
                he.p_phase[rows].sum(axis=1), he.q_phase[rows].sum(axis=1), he.v_pu[rows]
            )
            tap[rows] = look["tap"]
            for k, r in enumerate(rows):
                steps[r] = look["steps"][k]
            before[rows], after[rows] = look["loss_before"], look["loss_after"]
            outside[rows], viol[rows] = look["outside"], look["violation_after"]
        out = []
        for j in range(n):
            kind = str(he.scope.kind[j])
            feeder = self.feeders[he.scope.feeder[j]]
            note = scope_note(kind, feeder.name)
            computed = kind != KIND_CUSTOMER and np.isfinite(before[j])
            if not computed or equipment[j] is None:
                why = NO_REGISTER if computed else "no configuration computed (NaN losses)"
                info = self.info(assessment_pb2.NORMAL, f"{note}; {why}", status=assessment_pb2.DEGRADED)
                out.append(
                    assessment_pb2.PowerFlowOptimization(
                        info=info, loss_before_w=float("nan"), loss_after_w=float("nan")
                    )
                )
                continue
            partial = kind == KIND_HEAD or bool(outside[j])
            out.append(
                self.answer(
                    feeder,
                    note,
                    partial,
                    equipment[j],
                    int(tap[j]),
                    steps[j],
                    (float(before[j]), float(min(after[j], before[j]))),
                    float(viol[j]),
                    bool(outside[j]),
                )
            )
        return out

    def answer(
        self,
        feeder: Any,
        note: str,
        partial: bool,
        equipment: Equipment,
        tap: int,
        steps: np.ndarray,
        losses_w: tuple[float, float],
        violation_pu: float,
        outside: bool,
    ) -> assessment_pb2.PowerFlowOptimization:
        """The recommendation of one head-end state, or "no action" when it is not worth making
        or needs equipment the asset register does not list."""
        before, after = losses_w
        gain = max(before - after, 0.0)
        savings_h = gain / 1e3 * self.tariff
        banks = ", ".join(
            f"{b}={int(s)}x{q / 1e3:g}kvar"
            for b, s, q in zip(feeder.bank_names, steps, feeder.bank_q_step, strict=True)
        )
        setting = f"tap {tap:+d}, banks {banks}"
        detail = f"{note}; tariff {self.tariff:g}/kWh"
        if outside:
            detail += "; state outside the solved range: nearest edge state used"
        status = assessment_pb2.DEGRADED if partial else assessment_pb2.OK
        missing = missing_equipment(equipment, tap, float((steps * feeder.bank_q_step).sum()) / 1e3)
        no_action = ""
        if missing and equipment.tap_steps == 0 and equipment.capacitor_kvar <= 0:
            no_action = "the asset register lists no tap changer or capacitor banks at this meter"
        elif missing:
            # The table holds the joint optimum only: the optimum with fewer devices is unknown.
            status = assessment_pb2.DEGRADED
            no_action = (
                f"the best setting ({setting}) needs {missing}, which the asset register does not list; "
                "the optimum with the listed equipment alone is not in the solution table"
            )
        elif savings_h < self.config.min_savings_eur_per_h:
            no_action = (
                f"the best setting ({setting}) saves {savings_h:.2f}/h, below the "
                f"{self.config.min_savings_eur_per_h:g}/h materiality threshold"
            )
        if no_action:
            return assessment_pb2.PowerFlowOptimization(
                info=self.info(assessment_pb2.NORMAL, f"no action: {no_action}; {detail}", status),
                optimal_configuration=assessment_pb2.NetworkConfiguration(
                    tap_position=0, capacitor_steps=[0] * len(steps)
                ),
                loss_before_w=before,
                loss_after_w=before,
            )
        severity = assessment_pb2.ADVISORY
        if violation_pu > 1e-9:
            severity = assessment_pb2.WARNING
            detail += f"; no setting keeps every voltage in EN 50160 ±10 % (least violation {violation_pu * 100:.2f} %)"
        return assessment_pb2.PowerFlowOptimization(
            info=self.info(severity, f"banks: {banks}; {detail}", status),
            optimal_configuration=assessment_pb2.NetworkConfiguration(
                tap_position=tap, capacitor_steps=[int(s) for s in steps]
            ),
            efficiency_gain_pct=gain / before * 100.0 if before > 0 else 0.0,
            cost_savings=savings_h,
            loss_before_w=before,
            loss_after_w=after,
        )


def missing_equipment(equipment: Equipment, tap: int, bank_kvar: float) -> str:
    """What a setting needs beyond the registered equipment ("" when it is all there)."""
    missing = []
    if abs(tap) > equipment.tap_steps:
        missing.append(f"a tap changer with {abs(tap)} steps")
    if bank_kvar > equipment.capacitor_kvar + 1e-9:
        missing.append(f"{bank_kvar:g} kvar of capacitor banks")
    return " and ".join(missing)
