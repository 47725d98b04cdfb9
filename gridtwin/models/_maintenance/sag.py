"""Inputs of the voltage-sag Random Forests (in-progress sag and next-hour probability).

In-progress inputs are the serving features of a reading taken *during* an RMS event
(half-cycle RMS, IEC 61000-4-30 Urms(½), as a power-quality meter streams it in event mode)
plus two surge ratios against the meter's last five readings (load current and reactive
power rise with a motor start, fall with a remote fault). Cause signatures follow
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
    "rolling5_voltage_mean_pu_mean",
    "rolling5_voltage_mean_pu_std",
    "rolling5_voltage_mean_pu_min",
    "rolling5_voltage_mean_pu_max",
    "rolling5_voltage_mean_pu_trend_per_s",
    "dv_dt_pu_per_s",
    "current_mean_a",
    "rolling5_current_mean_a_mean",
    "reactive_power_total_var",
    "rolling5_reactive_power_total_var_mean",
)
SAG_DESIGN_NAMES: tuple[str, ...] = (*SAG_COLUMNS[:19], "current_surge_ratio", "reactive_surge_ratio")

#: Next-hour probability: conditions visible in a 1-min reading (no event needed).
CONDITION_COLUMNS: tuple[str, ...] = (
    "voltage_mean_pu",
    "voltage_min_pu",
    "voltage_spread_pu",
    "vuf_pct",
    "current_unbalance_pct",
    "reactive_share_total",
    "rolling5_voltage_mean_pu_std",
    "rolling5_current_mean_a_std",
    "rolling5_reactive_power_total_var_std",
    "frequency_deviation_hz",
    "hour_of_day_sin",
    "hour_of_day_cos",
)

#: A reading shows a sag (or interruption) in progress when any phase is below 0.9 pu
#: (IEEE 1159 sag band upper edge); the magnitude test is on the reading, the cause is learned.
SAG_THRESHOLD_PU = 0.9


def sag_design(src: np.ndarray) -> np.ndarray:
    """(n, len(SAG_DESIGN_NAMES)) from the SAG_COLUMNS block; NaN stays for the caller to impute."""
    with np.errstate(divide="ignore", invalid="ignore"):
        i_ratio = np.where(src[:, 20] > 0, src[:, 19] / src[:, 20], 1.0)
        q_ratio = np.where(np.abs(src[:, 22]) > 1e-9, src[:, 21] / src[:, 22], 1.0)
    return np.hstack([src[:, :19], i_ratio[:, None], np.clip(q_ratio, -50, 50)[:, None]])
