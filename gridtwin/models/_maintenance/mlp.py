"""Feed-forward ReLU network forward pass in numpy (weights exported from training)."""

from __future__ import annotations

import numpy as np


def mlp_forward(x: np.ndarray, weights: list[np.ndarray], biases: list[np.ndarray]) -> np.ndarray:
    """ReLU hidden layers, identity output (sklearn MLPRegressor's layout): (n, n_out)."""
    h = x
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w + b
        if i < last:
            np.maximum(h, 0.0, out=h)
    return h
