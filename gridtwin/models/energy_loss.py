"""3.2 Energy loss (served): technical losses of the section behind a head-end meter.

Line losses from the registered polynomial regression (per unit loss-equivalent resistance
of the meter's section, an ONNX graph run by ONNX Runtime); for the transformer meter, plus the exact transformer load loss
R_k·Σ I_p² and core loss P_fe·(V/Un)² (standards.md "Power"). Split (`loss_category`):
resistive / reactive = load losses × Σ P_p² / Σ S_p² and × Σ Q_p² / Σ S_p² at the meter
(I² = (P² + Q²)/V² per phase), core = no-load loss. loss_pct = loss / (|P| + transformer
losses) × 100 (the active power entering the section).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_TRANSFORMER, KIND_UNKNOWN, scope_note
from gridtwin.netopt.losses import INPUTS, LossModel
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.v1 import assessment_pb2

_P = ("active_power_a_w", "active_power_b_w", "active_power_c_w")
_Q = ("reactive_power_a_var", "reactive_power_b_var", "reactive_power_c_var")
_I = ("current_a_a", "current_b_a", "current_c_a")
# Load-dependent (I²R) losses as a share of the power through the meter: an LV network's
# technical losses are typically 2-5 % of energy.
WARN_PCT, CRIT_PCT = 5.0, 10.0


class Model(ServedModel):
    name = "energy_loss"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        params = json.loads(entry.artifact("params").read_text())
        regression = entry.artifact("regression") if "regression" in entry.manifest["artifacts"] else None
        self.loss = LossModel.load(entry.artifact("network"), regression, params["constant_ratio"])

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.EnergyLoss]:
        n = len(batch)
        scope = self.loss.scope(batch.meter_ids)
        x = batch.columns(INPUTS)
        r_eq = self.loss.r_eq(scope.feeder, scope.row, scope.kind)
        line = self.loss.line_loss(x, nan_to_num(r_eq))
        p = nan_to_num(batch.columns(_P))
        q = nan_to_num(batch.columns(_Q))
        i2 = (nan_to_num(batch.columns(_I)) ** 2).sum(axis=1)
        v_pu = nan_to_num(batch.column("voltage_mean_pu"))
        is_tr = (scope.kind == KIND_TRANSFORMER) | (scope.kind == KIND_UNKNOWN)
        r_k = np.array([self.loss.feeders[f].r_trafo for f in scope.feeder])
        pfe = np.array([self.loss.feeders[f].pfe_w for f in scope.feeder])
        trafo_load = np.where(is_tr, r_k * i2, 0.0)
        core = np.where(is_tr, pfe * v_pu**2, 0.0)
        load_loss = line + trafo_load
        s2 = (p**2 + q**2).sum(axis=1)
        share_p = np.where(s2 > 0, (p**2).sum(axis=1) / np.where(s2 > 0, s2, 1.0), 1.0)
        total = load_loss + core
        p_in = np.abs(p.sum(axis=1)) + trafo_load + core
        pct = np.where(p_in > 1.0, total / np.where(p_in > 1.0, p_in, 1.0) * 100.0, np.nan)
        # Severity judges the load-dependent losses only: the transformer's no-load (core) loss
        # is a fixed cost that makes the instantaneous share large whenever the feeder is
        # lightly loaded or PV nets it to zero, which is no reason to alarm an operator.
        var_pct = np.where(p_in > 1.0, load_loss / np.where(p_in > 1.0, p_in, 1.0) * 100.0, np.nan)
        out = []
        for j in range(n):
            kind = str(scope.kind[j])
            feeder = self.loss.feeders[scope.feeder[j]].name
            if kind == KIND_CUSTOMER:
                info = self.info(
                    assessment_pb2.NORMAL,
                    scope_note(kind, feeder) + "; feeder losses need a transformer or feeder-head reading",
                    status=assessment_pb2.DEGRADED,
                )
                out.append(assessment_pb2.EnergyLoss(info=info, loss_w=float("nan"), loss_pct=float("nan")))
                continue
            if not np.isfinite(pct[j]):
                sev, pct_note = (
                    assessment_pb2.NORMAL,
                    "; no active power through the meter: loss_pct undefined (NaN)",
                )
            else:
                sev = (
                    assessment_pb2.CRITICAL
                    if var_pct[j] >= CRIT_PCT
                    else assessment_pb2.WARNING
                    if var_pct[j] >= WARN_PCT
                    else assessment_pb2.NORMAL
                )
                pct_note = ""
            detail = (
                f"{scope_note(kind, feeder)}; line losses from regression, "
                + (
                    "transformer load+core losses exact"
                    if is_tr[j]
                    else "section line losses only (core loss at the transformer meter)"
                )
                + pct_note
            )
            out.append(
                assessment_pb2.EnergyLoss(
                    info=self.info(sev, detail),
                    loss_w=float(total[j]),
                    loss_pct=float(pct[j]),
                    loss_category=assessment_pb2.LossBreakdown(
                        resistive_w=float(load_loss[j] * share_p[j]),
                        reactive_w=float(load_loss[j] * (1.0 - share_p[j])),
                        core_w=float(core[j]),
                    ),
                )
            )
        return out
