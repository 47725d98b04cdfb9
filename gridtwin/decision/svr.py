"""Plain-numpy inference of fitted scikit-learn RBF SVRs (no per-call validation overhead).

prediction = Σ_i α_i·exp(−γ‖x_s − sv_i‖²) + b on standardised inputs x_s, then un-standardised:
the same arithmetic as `sklearn.svm.SVR.predict` for kernel="rbf".
"""

from __future__ import annotations

from typing import Any

import numpy as np


def export_svr(
    svr: Any, x_mean: np.ndarray, x_scale: np.ndarray, y_mean: float, y_scale: float
) -> dict[str, Any]:
    """Arrays of a fitted RBF `SVR` (trained on standardised x and y) for `SvrPredictor`."""
    return {
        "sv": np.asarray(svr.support_vectors_, float),
        "alpha": np.asarray(svr.dual_coef_, float).ravel(),
        "b": float(np.asarray(svr.intercept_).ravel()[0]),
        "gamma": float(svr._gamma),
        "x_mean": np.asarray(x_mean, float),
        "x_scale": np.asarray(x_scale, float),
        "y_mean": float(y_mean),
        "y_scale": float(y_scale),
    }


class SvrPredictor:
    """Vectorised RBF-SVR forward pass from `export_svr` arrays."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        self.sv = np.asarray(arrays["sv"], float)
        self.alpha = np.asarray(arrays["alpha"], float)
        self.b = float(arrays["b"])
        self.gamma = float(arrays["gamma"])
        self.x_mean = np.asarray(arrays["x_mean"], float)
        self.x_scale = np.asarray(arrays["x_scale"], float)
        self.y_mean = float(arrays["y_mean"])
        self.y_scale = float(arrays["y_scale"])
        self.sv_sq = (self.sv**2).sum(axis=1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (np.atleast_2d(x) - self.x_mean) / self.x_scale
        d2 = (z**2).sum(axis=1)[:, None] + self.sv_sq[None] - 2.0 * z @ self.sv.T
        k = np.exp(-self.gamma * np.maximum(d2, 0.0))
        return (k @ self.alpha + self.b) * self.y_scale + self.y_mean
