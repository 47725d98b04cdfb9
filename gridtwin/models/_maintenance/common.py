"""Small helpers shared by the maintenance models' serving code."""

from __future__ import annotations

import numpy as np


def impute(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Replace NaN/inf column-wise with the training medians `fill` (same rule in training)."""
    x = np.array(x, dtype=float, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        x[bad] = np.broadcast_to(fill, x.shape)[bad]
    return x
