"""4.3 Grid stability: calibrated RF + XGBoost + logistic-regression ensemble.

`stability_score` = 100·(1 − P(instability within 15 min)), the calibrated ensemble
probability; `stability_class` unstable if P ≥ 0.5, marginal if P ≥ 0.1, else stable;
`risk_factors` = the logistic member's largest positive contributions (coefficient ×
standardised value, log-odds). The forest runs as packed numpy arrays, XGBoost
as packed numpy trees too (no xgboost import in serving); missing inputs are imputed with the training medians.
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.decision.forest import ForestPredictor, XgbPredictor
from gridtwin.decision.stability import upstream_matrix
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModuleBatch, ServedModel
from gridtwin.v1 import assessment_pb2

UNSTABLE_P, MARGINAL_P = 0.5, 0.1


def _odds_correct(p: np.ndarray, r: float) -> np.ndarray:
    return r * p / (r * p + 1.0 - p)


class Model(ServedModel):
    name = "grid_stability"

    def __init__(self, entry: RegistryEntry) -> None:
        super().__init__(entry)
        with np.load(entry.artifact("model")) as z:
            a = {k: z[k] for k in z.files}
        self.forest = ForestPredictor({k[4:]: v for k, v in a.items() if k.startswith("rf__")})
        self.features = json.loads(str(a["features"]))
        self.upstream_used = json.loads(str(a["upstream_used"]))
        self.median = a["median"]
        self.coef, self.intercept = a["lr_coef"], float(a["lr_intercept"][0])
        self.mu, self.sd = a["mu"], a["sd"]
        self.iso_x, self.iso_y = a["iso_x"], a["iso_y"]
        self.w = float(a["member_weight"])
        self.keep_rate = float(a["keep_rate"])
        self.xgb = XgbPredictor({k[5:]: v for k, v in a.items() if k.startswith("xgb__")})
        self.names = list(self.features) + list(self.upstream_used)

    def probability(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated P(unstable within 15 min) and the LR contributions (n, n_inputs)."""
        xi = np.where(np.isnan(x), self.median, x)
        rf = _odds_correct(self.forest(xi), self.w)
        contrib = (xi - self.mu) / self.sd * self.coef
        lr = _odds_correct(1.0 / (1.0 + np.exp(-(contrib.sum(axis=1) + self.intercept))), self.w)
        p = _odds_correct((rf + lr + self.xgb(x)) / 3.0, self.keep_rate)
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
