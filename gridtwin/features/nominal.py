"""Nominal voltage / frequency inference for meters that never stated theirs.

A meter's nominal values are per-meter settings (nothing assumes 230 V / 50 Hz). When neither
the reading nor the meter's stored profile gives them, the nominal is inferred once, from the
first such reading, as the standard value closest to the measurement, stored in the profile and
marked inferred (feature ``nominal_inferred`` = 1). An explicit value later replaces it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Standard phase-to-neutral nominal voltages considered for inference, V.
STANDARD_NOMINAL_VOLTAGES_V: tuple[float, ...] = (
    100.0,
    110.0,
    115.0,
    120.0,
    127.0,
    220.0,
    230.0,
    240.0,
    277.0,
    347.0,
)
#: Standard nominal frequencies considered for inference, Hz.
STANDARD_NOMINAL_FREQUENCIES_HZ: tuple[float, ...] = (50.0, 60.0)


def _closest(x: ArrayLike, options: tuple[float, ...]) -> NDArray[np.float64]:
    opts = np.asarray(options)
    x = np.asarray(x, dtype=float)
    return opts[np.argmin(np.abs(x[..., None] - opts), axis=-1)]


def infer_nominal_voltage_v(mean_voltage_v: ArrayLike) -> NDArray[np.float64]:
    """Standard nominal (V, phase-to-neutral) closest to the mean phase voltage; ties → lower."""
    return _closest(mean_voltage_v, STANDARD_NOMINAL_VOLTAGES_V)


def infer_nominal_frequency_hz(frequency_hz: ArrayLike) -> NDArray[np.float64]:
    """Standard nominal frequency (50 or 60 Hz) closest to the measured frequency."""
    return _closest(frequency_hz, STANDARD_NOMINAL_FREQUENCIES_HZ)


def nominal_frequency_or_inferred_hz(nominal_hz: ArrayLike, measured_hz: ArrayLike) -> NDArray[np.float64]:
    """The stated nominal frequency where there is one (> 0), else the standard nominal closest
    to the measured frequency, else NaN (neither is known: nothing is assumed)."""
    fn = np.asarray(nominal_hz, dtype=float)
    f = np.asarray(measured_hz, dtype=float)
    stated = np.isfinite(fn) & (fn > 0)
    measured = np.isfinite(f) & (f > 0)
    inferred = infer_nominal_frequency_hz(np.where(measured, f, 0.0))
    return np.where(stated, fn, np.where(measured, inferred, np.nan))
