"""The 15 voltage descriptors of the voltage-anomaly isolation forest (one code path for
training and serving), all from the serving feature vector (docs/features.md).

Chosen to expose what stays inside the ±10 % band: steps (dV/dt, distance from the rolling
mean), oscillation (rolling spread), drifting or dropped channels (one phase pulling away from
the median), frozen meters (log of the rolling standard deviation: a stuck meter has none of
the meter's noise), plus the levels themselves. Features that need a previous reading (dV/dt,
trend) are NaN on a meter's first reading and are imputed as 0 (no change) — identically in
training and serving.

Isolation trees split uniformly between a feature's minimum and maximum, so one heavy tail
(an interruption at 0 pu) would squeeze the normal range and a 1 % step into one split. Every
descriptor is therefore passed through a signed log, sign(x)·log10(1 + |x|/s), with s the
quantity's normal scale (meter noise or typical spread): small deviations keep their
resolution and extremes stay extreme.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

INPUT_COLUMNS: tuple[str, ...] = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "voltage_mean_pu",
    "voltage_min_pu",
    "voltage_max_pu",
    "pvur_pct",
    "vuf_pct",
    "dv_dt_pu_per_s",
    "rolling5_voltage_mean_pu_mean",
    "rolling5_voltage_mean_pu_std",
    "rolling5_voltage_mean_pu_min",
    "rolling5_voltage_mean_pu_max",
    "rolling5_voltage_mean_pu_trend_per_s",
    "history_count",
)

#: Names of the descriptors before the signed log (levels as deviations from 1 pu).
DESCRIPTOR_NAMES: tuple[str, ...] = (
    "voltage_a_dev_pu",
    "voltage_b_dev_pu",
    "voltage_c_dev_pu",
    "voltage_mean_dev_pu",
    "voltage_min_dev_pu",
    "voltage_max_dev_pu",
    "voltage_spread_pu",
    "pvur_pct",
    "vuf_pct",
    "dv_dt_pu_per_min",
    "log10_rolling5_std_pu",
    "rolling5_trend_pu_per_min",
    "rolling5_range_pu",
    "deviation_from_rolling5_mean_pu",
    "max_phase_deviation_from_median_pu",
)

_STD_FLOOR_PU = 1e-6  # below any real meter's noise: a frozen reading maps here

# Normal scale s of each descriptor for the signed log (pu, pu/min or %, see DESCRIPTOR_NAMES);
# None = left linear (the log of the rolling std is already logarithmic).
_SCALES = (0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 1e-3, 0.1, 0.1, 1e-3, None, 1e-3, 1e-3, 1e-3, 1e-3)


def signed_log(x: NDArray[np.float64], scale: float) -> NDArray[np.float64]:
    """sign(x)·log10(1 + |x|/scale): monotone, linear near 0, logarithmic in the tails."""
    return np.sign(x) * np.log10(1.0 + np.abs(x) / scale)


def voltage_descriptors(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, len(INPUT_COLUMNS)) feature columns → (n, 15) descriptors (rates per minute)."""
    x = np.asarray(x, dtype=float)
    v = np.nan_to_num(x[:, 0:3])
    mean = np.nan_to_num(x[:, 3])
    r_std = np.nan_to_num(x[:, 10])
    r_mean = np.where(np.isfinite(x[:, 9]), x[:, 9], mean)
    r_min = np.where(np.isfinite(x[:, 11]), x[:, 11], mean)
    r_max = np.where(np.isfinite(x[:, 12]), x[:, 12], mean)
    dev_phase = np.abs(v - np.median(v, axis=1, keepdims=True)).max(axis=1)
    raw = np.column_stack(
        [
            v - 1.0,
            mean - 1.0,
            np.nan_to_num(x[:, 4]) - 1.0,
            np.nan_to_num(x[:, 5]) - 1.0,
            np.nan_to_num(x[:, 5] - x[:, 4]),
            np.nan_to_num(x[:, 6]),
            np.nan_to_num(x[:, 7]),
            np.nan_to_num(x[:, 8]) * 60.0,
            np.log10(np.maximum(r_std, _STD_FLOOR_PU)),
            np.nan_to_num(x[:, 13]) * 60.0,
            r_max - r_min,
            mean - r_mean,
            dev_phase,
        ]
    )
    out = raw.copy()
    for k, scale in enumerate(_SCALES):
        if scale is not None:
            out[:, k] = signed_log(raw[:, k], scale)
    return out
