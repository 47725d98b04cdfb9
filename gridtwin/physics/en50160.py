"""EN 50160 supply-voltage and frequency band flags (LV), per-meter nominal values.

All flags are boolean arrays (True = inside the band). EN 50160 states the frequency bands for a
50 Hz system; they are applied here as fractions of the meter's nominal frequency
(±1 %, −6 %/+4 % i.e. 47–52 Hz at 50 Hz, 56.4–62.4 Hz at 60 Hz) so that nothing assumes 50 Hz.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: VUF limit (%) for 10-min values, 95 % of a week (EN 50160; up to 3 % in some networks).
EN50160_VUF_LIMIT_PCT = 2.0

# Relative tolerance so that band edges (e.g. 132 V / 120 V) count as inside despite rounding.
_EPS = 1e-9


def _ratio(x: ArrayLike, nominal: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(x, dtype=float) / np.asarray(nominal, dtype=float)


def voltage_within_10pct(voltage_v: ArrayLike, nominal_v: ArrayLike) -> NDArray[np.bool_]:
    """EN 50160: supply voltage within Un ± 10 % (the 95 %-of-a-week band); inclusive."""
    r = _ratio(voltage_v, nominal_v)
    return (r >= 0.9 - _EPS) & (r <= 1.1 + _EPS)


def voltage_within_plus10_minus15pct(voltage_v: ArrayLike, nominal_v: ArrayLike) -> NDArray[np.bool_]:
    """EN 50160: supply voltage within Un +10 % / −15 % (the "always" band); inclusive."""
    r = _ratio(voltage_v, nominal_v)
    return (r >= 0.85 - _EPS) & (r <= 1.1 + _EPS)


def frequency_within_normal_band(
    frequency_hz: ArrayLike, nominal_hz: ArrayLike, islanded: bool = False
) -> NDArray[np.bool_]:
    """EN 50160 10-s mean frequency, narrow band: ±1 % interconnected (49.5–50.5 Hz at 50 Hz,
    99.5 % of a year) or ±2 % islanded (95 % of a week); inclusive."""
    tol = 0.02 if islanded else 0.01
    r = _ratio(frequency_hz, nominal_hz)
    return np.abs(r - 1.0) <= tol + _EPS


def frequency_within_always_band(
    frequency_hz: ArrayLike, nominal_hz: ArrayLike, islanded: bool = False
) -> NDArray[np.bool_]:
    """EN 50160 frequency "always" band: 47–52 Hz at 50 Hz (−6 %/+4 % of nominal)
    interconnected, or ±15 % islanded; inclusive."""
    r = _ratio(frequency_hz, nominal_hz)
    if islanded:
        return np.abs(r - 1.0) <= 0.15 + _EPS
    return (r >= 0.94 - _EPS) & (r <= 1.04 + _EPS)
