"""TOPSIS (Hwang & Yoon 1981): rank alternatives by relative closeness to the ideal solution.

Columns are vector-normalised (x / ‖x‖₂), weighted; the ideal takes the best value of each
criterion (max for benefit, min for cost), the anti-ideal the worst; closeness
C = d⁻ / (d⁺ + d⁻) ∈ [0, 1], 1 = the ideal itself.
"""

from __future__ import annotations

import numpy as np


def topsis(matrix: np.ndarray, weights: np.ndarray, benefit: np.ndarray) -> np.ndarray:
    """Closeness coefficient of each row (alternative) of `matrix` (alternatives × criteria)."""
    m = np.asarray(matrix, float)
    norm = np.sqrt((m**2).sum(axis=0))
    v = np.divide(m, norm, out=np.zeros_like(m), where=norm > 0) * np.asarray(weights, float)
    benefit = np.asarray(benefit, bool)
    ideal = np.where(benefit, v.max(axis=0), v.min(axis=0))
    anti = np.where(benefit, v.min(axis=0), v.max(axis=0))
    d_plus = np.sqrt(((v - ideal) ** 2).sum(axis=1))
    d_minus = np.sqrt(((v - anti) ** 2).sum(axis=1))
    total = d_plus + d_minus
    return np.divide(d_minus, total, out=np.ones_like(total), where=total > 0)
