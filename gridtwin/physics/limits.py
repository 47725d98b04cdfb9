"""IEEE 1159-2009 RMS-variation categories and rate of change of frequency.

References: IEEE 1159-2009 Table 2 (standards.md "RMS variations"); ROCOF as defined in
standards.md "Supply voltage and frequency": Δf/Δt in Hz/s with Δt the real time between samples.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Category names returned by :func:`ieee1159_category` (index = integer code).
IEEE1159_CATEGORIES: tuple[str, ...] = (
    "normal",
    "too_short",
    "instantaneous_sag",
    "instantaneous_swell",
    "momentary_interruption",
    "momentary_sag",
    "momentary_swell",
    "temporary_interruption",
    "temporary_sag",
    "temporary_swell",
    "sustained_interruption",
    "undervoltage",
    "overvoltage",
    "unclassified",
)


def ieee1159_category_code(
    magnitude_pu: ArrayLike, duration_s: ArrayLike, nominal_frequency_hz: ArrayLike
) -> NDArray[np.int64]:
    """Integer code (index into :data:`IEEE1159_CATEGORIES`) of an RMS variation.

    IEEE 1159-2009 Table 2. ``magnitude_pu`` is the residual (sag) or maximum (swell) RMS
    voltage in pu of nominal, ``duration_s`` the event duration in s; cycles are counted at the
    meter's nominal frequency. Band-edge conventions (the table leaves edges open):

    * magnitude: interruption < 0.1 ≤ sag < 0.9 ≤ normal ≤ 1.1 < swell;
    * duration: instantaneous 0.5 cycles ≤ d ≤ 30 cycles < momentary ≤ 3 s < temporary
      ≤ 60 s < sustained; an interruption is momentary from 0.5 cycles up to 3 s;
    * swell magnitude ceilings per duration class: 1.8 / 1.4 / 1.2 / 1.2 pu (overvoltage);
      a sustained (> 1 min) level of 0.8–0.9 pu is undervoltage;
    * d < 0.5 cycles → ``too_short`` (a transient, not an RMS variation); anything outside the
      table (e.g. a 2.0 pu swell, or a sustained 0.5 pu sag) → ``unclassified``.
    """
    m = np.asarray(magnitude_pu, dtype=float)
    d = np.asarray(duration_s, dtype=float)
    f = np.asarray(nominal_frequency_hz, dtype=float)
    m, d, f = np.broadcast_arrays(m, d, f)
    cyc = d * f
    eps = 1e-9
    half = cyc < 0.5 - eps
    inst = (cyc >= 0.5 - eps) & (cyc <= 30 + eps)
    mom = (cyc > 30 + eps) & (d <= 3 + eps)
    temp = (d > 3 + eps) & (d <= 60 + eps)
    sust = d > 60 + eps
    intr = m < 0.1
    sag = (m >= 0.1) & (m < 0.9)
    normal = (m >= 0.9) & (m <= 1.1 + eps)
    swell = m > 1.1 + eps
    c = {name: i for i, name in enumerate(IEEE1159_CATEGORIES)}
    conds = [
        np.isnan(m) | np.isnan(d),
        normal,
        half,
        intr & (inst | mom),
        intr & temp,
        intr & sust,
        sag & inst,
        sag & mom,
        sag & temp,
        sag & sust & (m >= 0.8),
        swell & inst & (m <= 1.8 + eps),
        swell & mom & (m <= 1.4 + eps),
        swell & temp & (m <= 1.2 + eps),
        swell & sust & (m <= 1.2 + eps),
    ]
    codes = [
        c["unclassified"],
        c["normal"],
        c["too_short"],
        c["momentary_interruption"],
        c["temporary_interruption"],
        c["sustained_interruption"],
        c["instantaneous_sag"],
        c["momentary_sag"],
        c["temporary_sag"],
        c["undervoltage"],
        c["instantaneous_swell"],
        c["momentary_swell"],
        c["temporary_swell"],
        c["overvoltage"],
    ]
    return np.select(conds, codes, default=c["unclassified"]).astype(np.int64)


def ieee1159_category(
    magnitude_pu: ArrayLike, duration_s: ArrayLike, nominal_frequency_hz: ArrayLike
) -> NDArray[np.str_]:
    """IEEE 1159-2009 Table 2 category name(s); see :func:`ieee1159_category_code`."""
    names = np.array(IEEE1159_CATEGORIES)
    return names[ieee1159_category_code(magnitude_pu, duration_s, nominal_frequency_hz)]


def rocof_hz_per_s(
    frequency_hz: ArrayLike, previous_frequency_hz: ArrayLike, dt_s: ArrayLike
) -> NDArray[np.float64]:
    """Rate of change of frequency Δf/Δt in Hz/s, Δt = real elapsed time in seconds.

    Never "per sample" (standards.md). NaN where Δt ≤ 0 or any input is missing.
    """
    f = np.asarray(frequency_hz, dtype=float)
    f0 = np.asarray(previous_frequency_hz, dtype=float)
    dt = np.asarray(dt_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, (f - f0) / np.where(dt > 0, dt, 1.0), np.nan)


def rocof_series_hz_per_s(frequency_hz: ArrayLike, time_s: ArrayLike) -> NDArray[np.float64]:
    """ROCOF between consecutive samples of one series: (f[i] − f[i−1]) / (t[i] − t[i−1]).

    Returns an array one shorter than the input; irregular sampling is handled exactly.
    """
    f = np.asarray(frequency_hz, dtype=float)
    t = np.asarray(time_s, dtype=float)
    return rocof_hz_per_s(f[1:], f[:-1], np.diff(t))
