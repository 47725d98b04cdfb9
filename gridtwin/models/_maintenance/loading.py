"""Inputs of the overload-risk SVM: the loading now and its time windows, per unit of rating.

Loading (per unit) is the largest phase current over the asset's rated current (the same
definition the simulator's `loading.parquet` uses), so one model serves transformers, feeder
heads and customer connections of any size. The SVM does not classify: it regresses the
**change** from the loading now to the largest loading 30–60 min ahead, so persistence (change
0) is its starting point and the class and P(overload) follow from "loading now + predicted
change" (`future_loading`).

Time windows are the schema's spans of real time (IEC 61000-4-30 10-min and 2-h intervals,
exponentially time-weighted; trends are least-squares slopes on time). A window the cadence
cannot support (10 min at a 15-min cadence) or a new meter's history cannot yet cover is NaN,
and the design handles it explicitly: an indicator column says it is missing, and the value
stands in from the next coarser span that exists (10 min → 2 h → the reading itself; a missing
trend → the 2-h trend → no change). Never a silent zero.
Calendar inputs are left out on purpose: the training feeder's few high loads fall on one or
two evenings, so a model with the clock learns those evenings instead of the loading.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

#: Feature-vector columns the design matrix is built from (all in the schema).
SOURCE_COLUMNS: tuple[str, ...] = (
    "current_max_a",
    "current_mean_a",
    "win10min_current_mean_a_mean",
    "win10min_current_mean_a_std",
    "win10min_current_mean_a_trend_per_s",
    "win2h_current_mean_a_mean",
    "win2h_current_mean_a_std",
    "win2h_current_mean_a_trend_per_s",
)

#: Names of the design-matrix columns (documentation and plots). Levels other than the loading
#: now enter as differences from it: they carry the meter's recent movement, not its size, so
#: the model transfers to meters loaded differently from the training ones.
DESIGN_NAMES: tuple[str, ...] = (
    "loading_pu",
    "mean_phase_loading_minus_win10min_mean_pu",
    "mean_phase_loading_minus_win2h_mean_pu",
    "win10min_loading_std_pu",
    "win10min_loading_trend_pu_per_30min",
    "win2h_loading_std_pu",
    "win2h_loading_trend_pu_per_30min",
    "win10min_missing",
    "win2h_missing",
)

_HALF_HOUR_S = 1800.0


def design_matrix(src: np.ndarray, rated_current_a: np.ndarray) -> np.ndarray:
    """(n, len(DESIGN_NAMES)) from the SOURCE_COLUMNS block `src` and ratings in A.

    Missing windows are handled here, explicitly (module docstring); a NaN left in the output
    means the reading itself is missing a current, and the caller rejects that row.
    """
    r = np.asarray(rated_current_a, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        now, mean_now = src[:, 0] / r, src[:, 1] / r
        m10, s10, t10 = src[:, 2] / r, src[:, 3] / r, src[:, 4] * _HALF_HOUR_S / r
        m2h, s2h, t2h = src[:, 5] / r, src[:, 6] / r, src[:, 7] * _HALF_HOUR_S / r
    miss10 = ~(np.isfinite(m10) & np.isfinite(s10) & np.isfinite(t10))
    miss2h = ~(np.isfinite(m2h) & np.isfinite(s2h) & np.isfinite(t2h))
    # coarser span stands in for a finer one; with none, the reading itself (no spread, no trend)
    m2h_f = np.where(miss2h, mean_now, m2h)
    s2h_f = np.where(miss2h, 0.0, s2h)
    t2h_f = np.where(miss2h, 0.0, t2h)
    m10_f = np.where(miss10, m2h_f, m10)
    s10_f = np.where(miss10, s2h_f, s10)
    t10_f = np.where(miss10, t2h_f, t10)
    return np.column_stack(
        [
            now,
            mean_now - m10_f,
            mean_now - m2h_f,
            s10_f,
            t10_f,
            s2h_f,
            t2h_f,
            miss10.astype(float),
            miss2h.astype(float),
        ]
    )


def future_loading(
    loading_now_pu: np.ndarray, change_pu: np.ndarray, spread_pu: np.ndarray, sigma: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """(predicted largest loading 30–60 min ahead, P(it is ≥ 1.0 pu)) from the loading now and
    the SVM's predicted change. The probability treats the residual as Gaussian with standard
    deviation σ₀ + σ₁ · (the meter's 2-h loading spread, `spread_pu`): a volatile load strays
    further from any forecast. (σ₀, σ₁) are fitted on the validation part, never on the test."""
    pred = np.asarray(loading_now_pu, float) + np.asarray(change_pu, float)
    sd = np.maximum(sigma[0] + sigma[1] * np.asarray(spread_pu, float), 1e-6)
    return pred, ndtr((pred - 1.0) / sd)


#: Column of the design matrix whose value scales the residual spread (`future_loading`).
SPREAD_COLUMN = DESIGN_NAMES.index("win2h_loading_std_pu")


def loading_class(loading_pu: np.ndarray) -> np.ndarray:
    """Class names of the simulator's label: normal < 0.8 ≤ high < 1.0 ≤ overload (pu)."""
    x = np.asarray(loading_pu, float)
    return np.where(x >= 1.0, "overload", np.where(x >= 0.8, "high", "normal"))
