"""Meter-relative, time-based descriptors of the voltage-anomaly isolation forest (one code
path for training and serving), all from the serving feature vector (docs/features.md).

Normal is relative to the meter: every level is a z-score against the meter's own baseline
(τ = 2 h, readings inside U_n ± 10 % only), so a meter that lives at 240 V on a 230 V nominal
scores near 0. Short-term behaviour (a step, an oscillation) is measured against the meter's
recent normal: the in-band 10-min state (IEC 61000-4-30 interval, readings inside U_n ± 10 %
only, so an event that just ended does not make the readings after it look like a step) —
time-based, never "the last N readings".

Missing values are explicit, never a silent zero:

* without a baseline (a new meter, or a long gap) the forest is **not applied**: the
  detector answers from the EN 50160 / IEEE 1159 rules alone and says so
  (:func:`has_baseline`);
* the recent-state descriptors are NaN where the cadence cannot support a 10-min state
  (15-min readings); they are replaced by the training median of the descriptor (stored in the
  artifact), i.e. "typical", so the forest judges such a reading on the levels alone.

Isolation trees split uniformly between a feature's minimum and maximum, so every descriptor
goes through a signed log, sign(x)·log10(1 + |x|/s): small deviations keep their resolution and
extremes stay extreme.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridtwin.features.timewindows import BASELINE_SPREAD_FLOOR_PU

INPUT_COLUMNS: tuple[str, ...] = (
    "voltage_a_baseline_z",
    "voltage_b_baseline_z",
    "voltage_c_baseline_z",
    "baseline_voltage_a_pu_std",
    "baseline_voltage_b_pu_std",
    "baseline_voltage_c_pu_std",
    "voltage_mean_pu",
    "inband10min_voltage_mean_pu_mean",
    "inband10min_voltage_mean_pu_std",
)

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "voltage_a_baseline_z",
    "voltage_b_baseline_z",
    "voltage_c_baseline_z",
    "phase_z_spread",
    "step_from_recent_mean_z",
    "log10_recent_std_over_baseline",
)
#: Descriptors that need the 10-min window (NaN at cadences that cannot support it).
WINDOW_DESCRIPTORS = (4, 5)
#: Scale s of the signed log per descriptor (z units; the log ratio is left linear).
_SCALES = (1.0, 1.0, 1.0, 1.0, 1.0, None)


def signed_log(x: NDArray[np.float64], scale: float) -> NDArray[np.float64]:
    """sign(x)·log10(1 + |x|/scale): monotone, linear near 0, logarithmic in the tails."""
    return np.sign(x) * np.log10(1.0 + np.abs(x) / scale)


def has_baseline(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(n,) True where the meter's baseline exists for all three phases."""
    return np.isfinite(np.asarray(x, dtype=float)[:, 0:3]).all(axis=1)


def voltage_descriptors(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, len(INPUT_COLUMNS)) feature columns → (n, 6) descriptors; NaN stays NaN (the
    caller decides: no forest without a baseline, training-median for the window ones)."""
    x = np.asarray(x, dtype=float)
    z = x[:, 0:3]
    spread = np.sqrt((x[:, 3:6] ** 2).mean(axis=1) + BASELINE_SPREAD_FLOOR_PU**2)  # NaN without baseline
    step = (x[:, 6] - x[:, 7]) / spread
    with np.errstate(divide="ignore", invalid="ignore"):
        osc = np.log10(np.maximum(x[:, 8], 1e-7) / spread)
    raw = np.column_stack([z, z.max(axis=1) - z.min(axis=1), step, osc])
    out = raw.copy()
    for k, scale in enumerate(_SCALES):
        if scale is not None:
            out[:, k] = signed_log(raw[:, k], scale)
    return out


def impute_windows(d: NDArray[np.float64], fill: NDArray[np.float64]) -> NDArray[np.float64]:
    """Replace NaN window descriptors by ``fill`` (the training medians), explicitly."""
    out = np.array(d, dtype=float, copy=True)
    for k in WINDOW_DESCRIPTORS:
        out[:, k] = np.where(np.isfinite(out[:, k]), out[:, k], fill[k])
    return out
