"""3.3 Power flow optimisation (served): tap position and capacitor steps from MILP solutions.

The reading is mapped onto its feeder's head-end state (gridtwin.netopt.state); the
configuration is the MILP solution (scipy HiGHS, solved and verified by full power flow at
training) of the nearest state in the feeder's solution table; loss_before (present tap,
banks off) and loss_after are interpolated from the verified power flows. tap_position is
the absolute position with the present one taken as 0 (HV-side tap: +1 lowers the LV
voltage by one step); capacitor_steps are per bank in the order of the bank list in
info.detail. cost_savings per hour = (loss_before - loss_after) / 1000 x tariff, tariff from
`ModelConfig.tariff_per_kwh` (GRIDTWIN_TARIFF_PER_KWH, default 0.30 currency units per kWh).
"""

from __future__ import annotations

import numpy as np

from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, Catalogue, scope_note
from gridtwin.netopt.serving import head_end, load_feeders
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.v1 import assessment_pb2


class Model(ServedModel):
    name = "power_flow_optimization"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.feeders = load_feeders(entry.artifact("model"))
        self.catalogue = Catalogue(self.feeders)
        self.tariff = self.config.tariff_per_kwh

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.PowerFlowOptimization]:
        he = head_end(self.catalogue, batch)
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
            if kind == KIND_CUSTOMER or not np.isfinite(before[j]):
                info = self.info(
                    assessment_pb2.NORMAL,
                    note + "; no configuration computed (NaN losses)",
                    status=assessment_pb2.DEGRADED,
                )
                out.append(
                    assessment_pb2.PowerFlowOptimization(
                        info=info, loss_before_w=float("nan"), loss_after_w=float("nan")
                    )
                )
                continue
            gain = max(before[j] - after[j], 0.0)
            pct = gain / before[j] * 100.0 if before[j] > 0 else 0.0
            banks = ", ".join(
                f"{b}={int(s)}x{q / 1e3:g}kvar"
                for b, s, q in zip(feeder.bank_names, steps[j], feeder.bank_q_step, strict=True)
            )
            detail = f"{note}; banks: {banks}; tariff {self.tariff:g}/kWh"
            severity = assessment_pb2.ADVISORY if pct >= 1.0 else assessment_pb2.NORMAL
            if viol[j] > 1e-9:
                severity = assessment_pb2.WARNING
                detail += f"; no setting keeps every voltage in EN 50160 ±10 % (least violation {viol[j] * 100:.2f} %)"
            if outside[j]:
                detail += "; state outside the solved range: nearest edge state used"
            partial = kind == KIND_HEAD or outside[j]
            info = self.info(severity, detail, assessment_pb2.DEGRADED if partial else assessment_pb2.OK)
            out.append(
                assessment_pb2.PowerFlowOptimization(
                    info=info,
                    optimal_configuration=assessment_pb2.NetworkConfiguration(
                        tap_position=int(tap[j]), capacitor_steps=[int(s) for s in steps[j]]
                    ),
                    efficiency_gain_pct=float(pct),
                    cost_savings=float(gain / 1e3 * self.tariff),
                    loss_before_w=float(before[j]),
                    loss_after_w=float(min(after[j], before[j])),
                )
            )
        return out
