"""Inputs of the voltage-sag Random Forests (in-progress sag and next-hour probability).

In-progress inputs are the serving features of a reading taken *during* an RMS event
(half-cycle RMS, IEC 61000-4-30 Urms(½), as a power-quality meter streams it in event mode)
plus two surge ratios against the meter's previous reading (from the rates and Δt: load
current and reactive power rise with a motor start, fall with a remote fault) and the time the
reading's run below 0.9 pu has lasted so far (`undervoltage_duration_s`, IEEE 1159-2019
Table 2). No count-based window: the schema's time windows are spans of real time, which a
4-s half-cycle trace cannot fill (they would be missing on every training row). Cause signatures follow
standards.md "RMS variations": fault = deep, rectangular, 1–2 phases; motor start =
shallow, balanced, reactive surge, slow recovery; energising = unbalanced, slow recovery.
"""

from __future__ import annotations

import numpy as np

SAG_COLUMNS: tuple[str, ...] = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "voltage_mean_pu",
    "voltage_min_pu",
    "voltage_max_pu",
    "voltage_spread_pu",
    "vuf_pct",
    "pvur_pct",
    "current_unbalance_pct",
    "current_iuf_est_pct",
    "reactive_share_total",
    "power_factor_total",
    "dv_dt_pu_per_s",
    "undervoltage_duration_s",
    "current_mean_a",
    "di_dt_a_per_s",
    "reactive_power_total_var",
    "dq_dt_var_per_s",
    "dt_s",
)
SAG_DESIGN_NAMES: tuple[str, ...] = (*SAG_COLUMNS[:15], "current_surge_ratio", "reactive_surge_ratio")

#: Next-hour probability: conditions visible in a 1-min reading (no event needed).
CONDITION_COLUMNS: tuple[str, ...] = (
    "voltage_mean_pu",
    "voltage_min_pu",
    "voltage_spread_pu",
    "vuf_pct",
    "current_unbalance_pct",
    "reactive_share_total",
    "win10min_voltage_mean_pu_std",
    "win10min_current_mean_a_std",
    "win10min_reactive_power_total_var_std",
    "frequency_deviation_hz",
    "hour_of_day_sin",
    "hour_of_day_cos",
)

#: A reading shows a sag (or interruption) in progress when any phase is below 0.9 pu
#: (IEEE 1159 sag band upper edge); the magnitude test is on the reading, the cause is learned.
SAG_THRESHOLD_PU = 0.9


def sag_design(src: np.ndarray) -> np.ndarray:
    """(n, len(SAG_DESIGN_NAMES)) from the SAG_COLUMNS block. A ratio without a previous reading
    (first reading of a meter: no rate) is NaN, left for the caller's training-median fill."""
    dt = src[:, 19]
    with np.errstate(divide="ignore", invalid="ignore"):
        i_prev = src[:, 15] - src[:, 16] * dt
        q_prev = src[:, 17] - src[:, 18] * dt
        i_ratio = np.where(i_prev > 0, src[:, 15] / i_prev, np.nan)
        q_ratio = np.where(np.abs(q_prev) > 1e-9, src[:, 17] / q_prev, np.nan)
    return np.hstack([src[:, :15], i_ratio[:, None], np.clip(q_ratio, -50, 50)[:, None]])


def anchored_estimates(
    vmin_pu: np.ndarray,
    so_far_s: np.ndarray,
    dt_s: np.ndarray,
    increment_pu: np.ndarray,
    log_ratio: np.ndarray,
    params: dict,
) -> tuple[np.ndarray, np.ndarray]:
    """Final depth (pu) and duration (s) of sags in progress, anchored on the observation.

    depth = the reading's lowest phase + λ_d · (forest's further drop, ≤ 0); duration = the
    run's duration so far · exp(λ_t · forest's log(final / so far)). The forests learned on
    half-cycle RMS traces; λ_d, λ_t ∈ [0, 1] were fitted on validation events only. A reading
    whose interval Δt is longer than any the forests saw (``trace_interval_s``: 1-s, 1-min and
    15-min readings) gets no forest correction: nothing was learned at that scale. Its depth is
    the observation itself; its duration is the duration so far times the validation events'
    median final / so-far ratio (``duration_ratio_log``, scale-free: a sag seen at a random
    point of its course has, on the median, lasted about half of it). No duration so far (a
    meter's first reading) → the training median duration.
    """
    seen = np.isfinite(dt_s) & (dt_s <= params["trace_interval_s"])
    lam_d = np.where(seen, params["lambda_depth"], 0.0)
    ratio = np.where(seen, params["lambda_duration"] * log_ratio, params["duration_ratio_log"])
    depth = np.clip(vmin_pu + lam_d * np.minimum(increment_pu, 0.0), 0.0, 1.0)
    known = np.isfinite(so_far_s) & (so_far_s > 0)
    log_dur = np.where(known, np.log(np.where(known, so_far_s, 1.0)) + ratio, params["median_log_duration_s"])
    return depth, np.exp(log_dur)
