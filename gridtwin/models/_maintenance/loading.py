"""Inputs of the overload-risk SVM: the serving features normalised by the meter's rating.

Loading (per unit) is the largest phase current over the asset's rated current (the same
definition the simulator's `loading.parquet` uses); power lags are normalised by the rated
three-phase apparent power 3·U_n·I_r so one model serves transformers and feeder heads of
any size. Calendar (hour, day of week) and ambient temperature are left out on purpose: the
training feeder's few non-normal labels fall on one or two mornings, so the SVM learned the
clock instead of the loading (measured on the other feeder: 15 % false alarms at midday
with 0.24 pu loading, and a whole unseen Monday flagged). Power factor and the phase-current
shape ratio were dropped for the same reason (they identify the meter, not its loading). Three of the ten power lags are kept: in
16 dimensions most rows lie far from every support vector, where the RBF decision falls back
to the intercepts and flagged calm rows (0.1 pu) as overload.
"""

from __future__ import annotations

import numpy as np

#: Feature-vector columns the design matrix is built from (all in the 135-feature schema).
SOURCE_COLUMNS: tuple[str, ...] = (
    "current_max_a",
    "rolling5_current_mean_a_mean",
    "rolling5_current_mean_a_max",
    "rolling5_current_mean_a_min",
    "rolling5_current_mean_a_std",
    "rolling5_current_mean_a_trend_per_s",
    "nominal_voltage_v",
    "active_power_total_lag_0",
    "active_power_total_lag_4",
    "active_power_total_lag_9",
)

#: Names of the design-matrix columns (documentation and plots).
DESIGN_NAMES: tuple[str, ...] = (
    "loading_pu",
    "rolling5_loading_mean_pu",
    "rolling5_loading_max_pu",
    "rolling5_loading_min_pu",
    "rolling5_loading_std_pu",
    "loading_trend_pu_per_30min",
    "p_lag_0_pu",
    "p_lag_4_pu",
    "p_lag_9_pu",
)


def design_matrix(src: np.ndarray, rated_current_a: np.ndarray) -> np.ndarray:
    """(n, len(DESIGN_NAMES)) from the SOURCE_COLUMNS block `src` and ratings in A.

    NaN (no history yet) stays NaN here; the caller imputes with the training medians.
    """
    r = np.asarray(rated_current_a, float)[:, None]
    s_rated = 3.0 * src[:, 6:7] * r  # VA
    with np.errstate(divide="ignore", invalid="ignore"):
        cur = src[:, 0:5] / r
        trend = src[:, 5:6] * 1800.0 / r
        p = src[:, 7:10] / s_rated
    return np.hstack([cur, trend, p])


def loading_class(loading_pu: np.ndarray) -> np.ndarray:
    """Class names of the simulator's label: normal < 0.8 ≤ high < 1.0 ≤ overload (pu)."""
    x = np.asarray(loading_pu, float)
    return np.where(x >= 1.0, "overload", np.where(x >= 0.8, "high", "normal"))


def calibrated_classes(
    dec: np.ndarray,
    vote_labels: np.ndarray,
    cal_classes: np.ndarray,
    cal_w: np.ndarray,
    cal_b: np.ndarray,
    prior_overload: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Class labels and P(overload) from the SVM's one-vs-one decisions.

    With a calibration (logistic regression of the decisions fitted on the validation part,
    Platt-style; binary when validation saw two classes, multinomial otherwise) the label is
    the most probable class — this restores the class prior the subsampled SVM lost, so calm
    rows far from every support vector are not flagged by the intercepts. Without one (the
    validation part saw a single class) the one-vs-one vote stands and P(overload) is the
    training prior.
    """
    if len(cal_classes) == 0:
        return vote_labels, np.full(len(dec), prior_overload)
    z = dec @ cal_w.T + cal_b
    if len(cal_classes) == 2:
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        probs = np.column_stack([1.0 - p1, p1])
    else:
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        probs = e / e.sum(1, keepdims=True)
    labels = cal_classes[probs.argmax(1)]
    where = np.flatnonzero(cal_classes == "overload")
    p_over = probs[:, where[0]] if len(where) else np.full(len(dec), prior_overload)
    return labels, p_over
