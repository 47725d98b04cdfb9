"""Numpy forward pass of a ReLU feed-forward network (weights exported from scikit-learn's
MLPRegressor at training; serving must not import torch) and the reactive-power inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Inputs of the reactive-power network, built from a head-end state + the feature row.
NN_INPUTS = (
    "p_a_kw",
    "p_b_kw",
    "p_c_kw",
    "q_a_kvar",
    "q_b_kvar",
    "q_c_kvar",
    "dv_pu",
    "rolling_p_kw",
    "rolling_q_kvar",
    "hour_sin",
    "hour_cos",
)


def nn_inputs(
    p_phase: np.ndarray,
    q_phase: np.ndarray,
    v_pu: np.ndarray,
    scale: np.ndarray,
    rolling_p: np.ndarray,
    rolling_q: np.ndarray,
    hour_sin: np.ndarray,
    hour_cos: np.ndarray,
) -> np.ndarray:
    """(B, len(NN_INPUTS)): head-end per-phase P/Q (kW, kvar, scaled to the whole feeder), busbar
    voltage deviation, 5-reading rolling means of total P/Q (the current value when there is
    no history yet), time of day."""
    s = np.nanmean(scale, axis=1)
    rp = np.where(np.isfinite(rolling_p), rolling_p * s, p_phase.sum(axis=1))
    rq = np.where(np.isfinite(rolling_q), rolling_q * s, q_phase.sum(axis=1))
    return np.column_stack(
        [
            p_phase / 1e3,
            q_phase / 1e3,
            v_pu - 1.0,
            rp / 1e3,
            rq / 1e3,
            np.nan_to_num(hour_sin),
            np.nan_to_num(hour_cos),
        ]
    )


class MLP:
    """y = W_L relu(... relu(W_1 (x - mean) / std + b_1) ...) + b_L."""

    def __init__(
        self, mean: np.ndarray, std: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray]
    ) -> None:
        self.mean, self.std, self.weights, self.biases = mean, std, weights, biases

    def __call__(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.std
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return h @ self.weights[-1] + self.biases[-1]

    def save(self, out: dict[str, np.ndarray]) -> None:
        out["mlp_mean"], out["mlp_std"] = self.mean, self.std
        out["mlp_layers"] = np.array(len(self.weights))
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"mlp_w{i}"], out[f"mlp_b{i}"] = w, b

    @classmethod
    def load(cls, path: Path) -> MLP:
        with np.load(path, allow_pickle=False) as z:
            n = int(z["mlp_layers"])
            return cls(
                z["mlp_mean"],
                z["mlp_std"],
                [z[f"mlp_w{i}"] for i in range(n)],
                [z[f"mlp_b{i}"] for i in range(n)],
            )
