"""2.1 Equipment failure — XGBoost (30-day failure probability, SHAP factors) + XGBoost AFT.

Both boosters run as ONNX graphs in ONNX Runtime; the SHAP factors come from
`_maintenance.treeshap` (exact TreeSHAP on the exported leaf paths: ONNX has no attribution
operator), so serving imports no xgboost.

Serves transformer meters (a meter with a rated current in its asset hash or in the
registered transformer table). `prepare` integrates each reading into the meter's Redis
state (IEC 60076-7 hot spot, daily load/ageing accumulators, 30-day stress sums; see
`_maintenance.asset_state`); `predict` turns that state and the asset record (age,
last maintenance) into the fleet model's transformer-day features. Whatever had to be
assumed (no state yet, no asset record) is named in `info.detail` and marks the answer
DEGRADED.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from gridtwin.assets import MAINTENANCE_FIELDS
from gridtwin.models._maintenance.asset_state import FIELDS, update_states
from gridtwin.models._maintenance.failure import EQF_FEATURES
from gridtwin.models._maintenance.thermal import ageing_rate, steady_rises
from gridtwin.models._maintenance.treeshap import TreeShap
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.serving.shared import shared_assets
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2 as pb

# Read once per call for this model and overload_risk (gridtwin.serving.shared).
ASSET_FIELDS = MAINTENANCE_FIELDS
F = {name: i for i, name in enumerate(FIELDS)}
EXPLAIN_FROM = 0.05  # failure probability from which SHAP factors are computed ("elevated")


def risk_level(p: float) -> tuple[str, int]:
    if p >= 0.5:
        return "critical", pb.CRITICAL
    if p >= 0.2:
        return "high", pb.WARNING
    if p >= 0.05:
        return "elevated", pb.ADVISORY
    return "low", pb.NORMAL


class Model(ServedModel):
    name = "equipment_failure"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.clf = OnnxModel(entry.artifact("clf"))
        self.aft = OnnxModel(entry.artifact("aft"))
        with np.load(entry.artifact("shap_paths")) as z:
            self.shap = TreeShap({k: z[k] for k in z.files}, len(EQF_FEATURES))
        meta = json.loads(entry.artifact("meta").read_text())
        self.defaults = meta["defaults"]
        self.ratings: dict[str, float] = meta["transformer_rated_current_a"]
        self.horizon_h = float(meta["horizon_days"]) * 24.0

    # ---- per-meter state ---------------------------------------------------------------
    def _inputs(
        self, batch: ModuleBatch, assets: dict[str, dict[str, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        rated = np.array(
            [assets.get(m, {}).get("rated_current_a", self.ratings.get(m, np.nan)) for m in batch.meter_ids]
        )
        k = batch.column("current_max_a") / rated
        return rated, k

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        assets = await shared_assets(batch, state, ASSET_FIELDS)
        ctx: dict[str, Any] = {"assets": assets}
        rated, k = self._inputs(batch, assets)
        ok = np.isfinite(k) & np.isfinite(batch.column("ambient_temperature_c"))
        if ok.any():
            idx = np.flatnonzero(ok)
            ts = np.array(
                [batch.readings[i].timestamp.seconds + batch.readings[i].timestamp.nanos / 1e9 for i in idx]
            )
            over_k = k[idx] > 1.0
            tf = (
                (batch.column("ieee1159_sag_band")[idx] > 0)
                | (batch.column("ieee1159_interruption_band")[idx] > 0)
            ) & over_k
            ov = batch.column("ieee1159_swell_band")[idx] > 0
            rows = await update_states(
                state,
                [batch.meter_ids[i] for i in idx],
                ts,
                k[idx],
                batch.column("ambient_temperature_c")[idx],
                tf,
                ov,
            )
            state = np.full((len(batch), len(FIELDS)), np.nan)
            state[idx] = rows
            ctx["state"] = state
        batch.context[self.name] = ctx

    # ---- prediction --------------------------------------------------------------------
    def predict(self, batch: ModuleBatch) -> list[pb.EquipmentFailure]:
        n = len(batch)
        ctx = batch.context.get(self.name, {})
        assets = ctx.get("assets", {})
        rated, k = self._inputs(batch, assets)
        amb = batch.column("ambient_temperature_c")
        served = np.isfinite(k) & np.isfinite(amb)
        state = ctx.get("state")
        notes: list[list[str]] = [[] for _ in range(n)]
        x = np.full((n, len(EQF_FEATURES)), np.nan)
        hs = np.full(n, np.nan)
        now = time.time()
        for i, m in enumerate(batch.meter_ids):
            if not served[i]:
                continue
            a = assets.get(m, {})
            if "age_years" in a:
                x[i, 0] = a["age_years"]
            else:
                x[i, 0] = self.defaults["age_years"]
                notes[i].append("no asset age: fleet median assumed")
            if "last_maintenance_unix" in a:
                x[i, 1] = max(now - a["last_maintenance_unix"], 0.0) / 86400.0
            else:
                x[i, 1] = self.defaults["days_since_maintenance"]
                notes[i].append("no maintenance record: fleet median assumed")
            s = state[i] if state is not None else None
            if s is not None and np.isfinite(s).all():
                cnt = max(s[F["n"]], 1.0)
                x[i, 2:8] = [
                    s[F["sk"]] / cnt,
                    s[F["mk"]],
                    s[F["sa"]] / cnt,
                    s[F["mh"]],
                    s[F["age"]],
                    s[F["ol"]],
                ]
                x[i, 8:12] = [s[F["e_tf"]], s[F["e_ov"]], s[F["e_ol"]], s[F["e_age"]]]
                hs[i] = s[F["hs"]]
                if s[F["hist_days"]] < 1.0:
                    notes[i].append(f"{s[F['hist_days']] * 24:.1f} h of history: day features partial")
            else:
                # no history: the reading held for a day at steady state (IEC 60076-7 ultimate rises)
                do_ss, dh_ss = steady_rises(k[i])
                hs[i] = amb[i] + do_ss + dh_ss
                v = float(ageing_rate(hs[i]))
                x[i, 2:8] = [k[i], k[i], amb[i], hs[i], 24.0 * v, 24.0 if k[i] > 1.3 else 0.0]
                x[i, 8:12] = [0.0, 0.0, 0.0, 24.0 * v]
                notes[i].append("no per-meter history: steady-state hot spot of this reading assumed")
        out: list[pb.EquipmentFailure] = []
        rows = np.flatnonzero(served)
        if len(rows):
            xs = x[rows]
            p = self.clf.run_one(xs, "probabilities")[:, 1].astype(float)
            ttf_h = self.aft.run_one(xs)[:, 0].astype(float) * 24.0
            # SHAP only where risk is at least "elevated": a low-risk unit needs no explanation
            # (the detail says so)
            contrib = np.zeros((len(rows), len(EQF_FEATURES)))
            explain = p >= EXPLAIN_FROM
            if explain.any():
                contrib[explain] = self.shap(xs[explain])
        pos = {r: j for j, r in enumerate(rows)}
        for i in range(n):
            if not served[i]:
                info = self.unavailable(
                    "not a rated transformer meter (no rated current) or no "
                    "ambient temperature: failure model not applicable",
                )
                out.append(pb.EquipmentFailure(info=info))
                continue
            j = pos[i]
            level, sev = risk_level(float(p[j]))
            top = np.argsort(-contrib[j])[:3]
            factors = [
                pb.FeatureAttribution(feature=EQF_FEATURES[t], contribution=float(contrib[j, t]))
                for t in top
                if contrib[j, t] > 0
            ]
            if p[j] < EXPLAIN_FROM:
                notes_i = [*notes[i], "low risk: contributing factors not computed"]
            else:
                notes_i = notes[i]
            detail = "; ".join(notes_i) or "asset record and reading history used"
            info = self.degraded(detail, sev) if notes[i] else self.info(sev, detail)
            out.append(
                pb.EquipmentFailure(
                    info=info,
                    failure_probability=float(p[j]),
                    horizon_hours=self.horizon_h,
                    time_to_failure_hours=float(ttf_h[j]),
                    risk_level=level,
                    contributing_factors=factors,
                    hot_spot_temperature_c=float(hs[i]),
                )
            )
        return out
