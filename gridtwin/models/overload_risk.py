"""2.2 Overload risk — SVM (RBF), loading class 30–60 min ahead.

Serving: the rating-normalised design matrix (`_maintenance.loading`), training-median
imputation and standardisation, then the RBF SVC's one-vs-one decision values and vote from
ONNX Runtime (`gridtwin.serving.runtime`, one call per batch).
Labels and `overload_probability` come from the validation-fitted logistic calibration of
the decision values (`_maintenance.loading.calibrated_classes`).
The rating of a meter comes from its asset hash in Redis (`rated_current_a`) or the
registered table of the simulator's meters; without a rating no loading can be computed and
the output says so (status DEGRADED, no invented class).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.models._maintenance.common import impute
from gridtwin.models._maintenance.loading import SOURCE_COLUMNS, calibrated_classes, design_matrix
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
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
        self.svc = OnnxModel(entry.artifact("svm"))
        a = json.loads(entry.artifact("params").read_text())
        self.fill, self.mu, self.sd = (np.asarray(a[k], float) for k in ("fill", "mu", "sd"))
        self.cal_w, self.cal_b = np.asarray(a["cal_w"], float), np.asarray(a["cal_b"], float)
        self.cal_classes = np.asarray(a["cal_classes"], str)
        self.prior_overload = float(a["prior_overload"])
        self.ttf_minutes = float(a["ttf_minutes"])
        meta = json.loads(entry.artifact("meta").read_text())
        self.classes = np.array(meta["classes"])
        self.ratings: dict[str, float] = meta["rated_current_a"]

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        batch.context[self.name] = await state.assets(batch.meter_ids, ["rated_current_a"])

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
            src = batch.columns(SOURCE_COLUMNS)[known]
            x = (impute(design_matrix(src, rated[known]), self.fill) - self.mu) / self.sd
            graph_out = self.svc.run(x)
            label, scores = (graph_out[k] for k in self.svc.output_names[:2])
            dec = ovo_decisions(scores, len(self.classes))
            votes = np.asarray(label, str)
            cls[known], prob[known] = calibrated_classes(
                dec, votes, self.cal_classes, self.cal_w, self.cal_b, self.prior_overload
            )
            loading[known] = src[:, 0] / rated[known] * 100.0
        out = []
        for i in range(n):
            if not known[i]:
                info = self.degraded(
                    "no rated current for this meter (asset hash or registry): "
                    "loading and overload class cannot be computed",
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


def ovo_decisions(scores: np.ndarray, n_classes: int) -> np.ndarray:
    """The SVC graph's scores as sklearn's `decision_function` (ovo), (n, n_pairs).

    For two classes the graph answers (d, −d) with d sklearn's binary decision (positive =
    second class): the first column (pinned by tests/models/test_onnx_parity.py).
    """
    scores = np.asarray(scores, float)
    return scores[:, :1] if n_classes == 2 else scores
