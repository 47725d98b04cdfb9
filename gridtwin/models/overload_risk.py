"""2.2 Overload risk — SVM (RBF) regression, loading class 30–60 min ahead.

Serving: the rating-normalised design matrix (`_maintenance.loading`, missing time windows
handled explicitly there), then the standardised RBF SVR's predicted change of loading (one
plain-operator graph) from ONNX Runtime (`gridtwin.serving.runtime`, one call per batch). The largest loading 30–60
min ahead is the loading now plus that change; its class is the simulator's label rule and
`overload_probability` = P(≥ 1.0 pu) under the validation residual
(`_maintenance.loading.future_loading`).
The rating of a meter comes from its asset hash in Redis (`rated_current_a`) or the
registered table of the simulator's meters; without a rating no loading can be computed and
the output says so (status DEGRADED, no invented class).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.assets import MAINTENANCE_FIELDS
from gridtwin.models._maintenance.loading import (
    SOURCE_COLUMNS,
    SPREAD_COLUMN,
    design_matrix,
    future_loading,
    loading_class,
)
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.serving.shared import shared_assets
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2 as pb

ACTIONS = {
    "normal": "none",
    "high": "monitor loading; prepare load transfer or demand response",
    "overload": "reduce load within 30 min: shift flexible load (EV, storage), transfer load to another feeder",
}
SEVERITY = {"normal": pb.NORMAL, "high": pb.ADVISORY, "overload": pb.WARNING}


class Model(ServedModel):
    name = "overload_risk"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.svr = OnnxModel(entry.artifact("svm"))
        a = json.loads(entry.artifact("params").read_text())
        self.sigma = (float(a["residual_sigma_pu"]), float(a["residual_sigma_per_spread"]))
        self.ttf_minutes = float(a["ttf_minutes"])
        meta = json.loads(entry.artifact("meta").read_text())
        self.ratings: dict[str, float] = meta["rated_current_a"]

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        # The maintenance fields equipment_failure reads too: one register read per call for
        # both (only `rated_current_a` is used here).
        batch.context[self.name] = await shared_assets(batch, state, MAINTENANCE_FIELDS)

    def _ratings(self, batch: ModuleBatch) -> np.ndarray:
        assets = batch.context.get(self.name, {})
        out = np.empty(len(batch))
        for i, m in enumerate(batch.meter_ids):
            rec = assets.get(m)
            out[i] = (
                rec["rated_current_a"] if rec and "rated_current_a" in rec else self.ratings.get(m, np.nan)
            )
        return out

    def predict(self, batch: ModuleBatch) -> list[pb.OverloadRisk]:
        n = len(batch)
        rated = self._ratings(batch)
        known = np.isfinite(rated) & (rated > 0)
        cls = np.full(n, "", dtype=object)
        prob = np.zeros(n)
        loading = np.full(n, np.nan)
        if known.any():
            x = design_matrix(batch.columns(SOURCE_COLUMNS)[known], rated[known])
            known[known] = np.isfinite(x).all(axis=1)  # no current measured: no loading
            x = x[np.isfinite(x).all(axis=1)]
        if known.any():
            change = self.svr.run_one(x)[:, 0].astype(float)
            ahead, prob[known] = future_loading(x[:, 0], change, x[:, SPREAD_COLUMN], self.sigma)
            cls[known] = loading_class(ahead)
            loading[known] = x[:, 0] * 100.0
        out = []
        for i in range(n):
            if not known[i]:
                info = self.degraded(
                    "no rated current for this meter (asset hash or registry) or no current "
                    "measured: loading and overload class cannot be computed",
                )
                out.append(pb.OverloadRisk(info=info, time_to_overload_minutes=-1.0))
                continue
            c = str(cls[i])
            lp = float(loading[i]) if np.isfinite(loading[i]) else 0.0
            if lp >= 100.0:
                ttf, sev, detail = 0.0, pb.CRITICAL, "overloaded now"
            elif c == "overload" and np.isfinite(self.ttf_minutes):
                ttf, sev, detail = self.ttf_minutes, pb.WARNING, "overload predicted within 30–60 min"
            elif c == "overload":
                ttf, sev, detail = -1.0, pb.WARNING, "overload predicted within 30–60 min; time unknown (-1)"
            else:
                ttf, sev, detail = (
                    -1.0,
                    SEVERITY[c],
                    "no overload expected within 60 min (time_to_overload = -1)",
                )
            out.append(
                pb.OverloadRisk(
                    info=self.info(sev, detail),
                    predicted_loading_class=c,
                    overload_probability=float(prob[i]),
                    time_to_overload_minutes=ttf,
                    recommended_action=ACTIONS["overload" if lp >= 100.0 else c],
                    loading_pct=lp,
                )
            )
        return out
