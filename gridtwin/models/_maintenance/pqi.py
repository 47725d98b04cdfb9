"""The power-quality index (PQI, 0–100) from EN 50160 compliance.

Each criterion is measured as a ratio r to its EN 50160 (LV) limit (standards.md):

| criterion | measured | limit | weight |
|---|---|---|---|
| supply voltage | worst phase |U/U_n − 1| | 10 % | 35 |
| harmonics | worst-phase voltage THD (H = 40) | 8 % | 30 |
| unbalance | VUF | 2 % | 20 |
| frequency | |f/f_n − 1| | 1 % | 15 |

penalty_i = w_i · min(r_i, 1.5) / 1.5, PQI = 100 − Σ penalty_i. A criterion with r > 1 is a
violation (listed by name). Classes: ≥ 90 excellent, ≥ 75 good, ≥ 50 fair, else poor.
The index is of one reading (EN 50160 itself judges 10-min values over a week); VUF is the
feature pipeline's magnitude-based value (120° spacing assumed, docs/features.md).
"""

from __future__ import annotations

import numpy as np

CRITERIA: tuple[str, ...] = ("voltage_deviation", "thd", "vuf", "frequency_deviation")
LIMITS = np.array([10.0, 8.0, 2.0, 1.0])  # %, EN 50160
WEIGHTS = np.array([35.0, 30.0, 20.0, 15.0])
CAP = 1.5

#: Feature columns the exact components are computed from.
PQI_COLUMNS: tuple[str, ...] = (
    "voltage_min_pu",
    "voltage_max_pu",
    "thd_voltage_max_pct",
    "vuf_pct",
    "frequency_deviation_pct",
)


def ratios(
    v_min_pu: np.ndarray,
    v_max_pu: np.ndarray,
    thd_pct: np.ndarray,
    vuf_pct: np.ndarray,
    f_dev_pct: np.ndarray,
) -> np.ndarray:
    """(n, 4) ratios of each criterion to its EN 50160 limit."""
    v_dev = np.maximum(np.abs(v_min_pu - 1.0), np.abs(v_max_pu - 1.0)) * 100.0
    return np.column_stack([v_dev, thd_pct, vuf_pct, np.abs(f_dev_pct)]) / LIMITS


def pqi_from_ratios(r: np.ndarray) -> np.ndarray:
    """PQI (0–100) from the (n, 4) ratios; NaN ratios give NaN."""
    return 100.0 - (WEIGHTS * np.minimum(r, CAP) / CAP).sum(1)


def pq_class(pqi: np.ndarray) -> np.ndarray:
    return np.where(pqi >= 90, "excellent", np.where(pqi >= 75, "good", np.where(pqi >= 50, "fair", "poor")))
