"""4.3 Grid stability: calibrated RF + XGBoost + logistic-regression ensemble.

`stability_score` = 100·(1 − P(instability within 15 min)), the calibrated ensemble
probability; `stability_class` unstable if P ≥ 0.5, marginal if P ≥ 0.1, else stable;
`risk_factors` = the logistic member's largest positive contributions (coefficient ×
standardised value, log-odds). The forest and the booster run as ONNX graphs in ONNX Runtime
(no scikit-learn or xgboost in serving; XGBoost sends NaN inputs down its learned default
branch); the logistic member is plain arithmetic because its contributions are the risk
factors. Missing inputs of the forest and the logistic member are imputed with the training
medians.
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.decision.stability import upstream_matrix
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2

UNSTABLE_P, MARGINAL_P = 0.5, 0.1


def _odds_correct(p: np.ndarray, r: float) -> np.ndarray:
    return r * p / (r * p + 1.0 - p)


class Model(ServedModel):
    name = "grid_stability"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        a = json.loads(entry.artifact("params").read_text())
        self.forest = OnnxModel(entry.artifact("rf"))
        self.xgb = OnnxModel(entry.artifact("xgb"))
        self.features = list(a["features"])
        self.upstream_used = list(a["upstream_used"])
        self.median = np.asarray(a["median"], float)
        self.coef, self.intercept = np.asarray(a["lr_coef"], float), float(a["lr_intercept"])
        self.mu, self.sd = np.asarray(a["mu"], float), np.asarray(a["sd"], float)
        self.iso_x, self.iso_y = np.asarray(a["iso_x"], float), np.asarray(a["iso_y"], float)
        self.w = float(a["member_weight"])
        self.keep_rate = float(a["keep_rate"])
        self.names = list(self.features) + list(self.upstream_used)

    def probability(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated P(unstable within 15 min) and the LR contributions (n, n_inputs)."""
        xi = np.where(np.isnan(x), self.median, x)
        rf = _odds_correct(self.forest.run_one(xi, "probabilities")[:, 1].astype(float), self.w)
        contrib = (xi - self.mu) / self.sd * self.coef
        lr = _odds_correct(1.0 / (1.0 + np.exp(-(contrib.sum(axis=1) + self.intercept))), self.w)
        xg = self.xgb.run_one(x, "probabilities")[:, 1].astype(float)
        p = _odds_correct((rf + lr + xg) / 3.0, self.keep_rate)
        return np.interp(p, self.iso_x, self.iso_y), contrib

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.GridStability]:
        x = batch.columns(self.features)
        missing_up = 0
        if self.upstream_used:
            up = (
                upstream_matrix(batch.upstream, self.upstream_used)
                if batch.upstream
                else np.full((len(batch), len(self.upstream_used)), np.nan)
            )
            missing_up = np.isnan(up).sum(axis=1)
            x = np.hstack([x, up])
        p, contrib = self.probability(np.ascontiguousarray(x, dtype=np.float64))
        top = np.argsort(-contrib, axis=1)[:, :3]
        out = []
        for i in range(len(batch)):
            pi = float(p[i])
            cls = "unstable" if pi >= UNSTABLE_P else "marginal" if pi >= MARGINAL_P else "stable"
            sev = {"unstable": assessment_pb2.CRITICAL, "marginal": assessment_pb2.WARNING}.get(
                cls, assessment_pb2.NORMAL
            )
            detail = "P(unstable within 15 min), calibrated"
            if np.isnan(x[i]).any():
                detail += f"; {int(np.isnan(x[i]).sum())} missing input(s) imputed with training medians"
            if self.upstream_used and missing_up[i]:
                detail += f"; {int(missing_up[i])} upstream output(s) unavailable"
            factors = [
                assessment_pb2.FeatureAttribution(feature=self.names[j], contribution=float(contrib[i, j]))
                for j in top[i]
                if contrib[i, j] > 0
            ]
            out.append(
                assessment_pb2.GridStability(
                    info=self.info(sev, detail),
                    stability_score=100.0 * (1.0 - pi),
                    stability_class=cls,
                    risk_factors=factors,
                )
            )
        return out
