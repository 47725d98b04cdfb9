"""Total harmonic distortion and harmonic limits.

References: EN 50160 and IEC 61000-4-7 (THD with H = 40, 10/12-cycle window, harmonic
subgroups), IEEE 519-2014 (voltage distortion limits at the PCC). THD can only be computed from
a waveform or from reported harmonic magnitudes; nothing here estimates it from RMS values.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Highest harmonic order in THD (EN 50160, IEC 61000-4-7). IEEE 519 goes to 50.
THD_MAX_ORDER = 40

#: EN 50160 THD limit (LV and MV supply, 10-min values, 95 % of a week), %.
EN50160_THD_LIMIT_PCT = 8.0


def iec_window_cycles(f1_hz: float) -> int:
    """Cycles in the IEC 61000-4-7 window: 10 at 50 Hz, 12 at 60 Hz (≈ 200 ms, 5 Hz bins).

    For other fundamentals the nearest whole number of cycles to 200 ms is used.
    """
    return max(1, int(round(0.2 * float(f1_hz))))


def harmonic_subgroups_rms(
    samples: ArrayLike,
    sample_rate_hz: float,
    f1_hz: float,
    max_order: int = THD_MAX_ORDER,
    cycles: int | None = None,
) -> NDArray[np.float64]:
    """RMS harmonic subgroups G_sg,h for h = 1..max_order (IEC 61000-4-7), units of the input.

    ``samples`` is (N,) or (n, N) instantaneous values (V or A) sampled at ``sample_rate_hz``.
    The first window of ``cycles`` fundamental cycles (default: :func:`iec_window_cycles`, 10
    at 50 Hz, 12 at 60 Hz) is analysed with a rectangular window and a DFT (bin width f1/cycles,
    5 Hz). The subgroup of order h is the root-sum-square of the bin at h·f1 and its two
    neighbours. If fewer samples than one IEC window are supplied, the largest whole number of
    cycles available is used. Orders whose upper neighbour bin lies above Nyquist are NaN.
    Returns shape (n, max_order) (or (max_order,) for 1-D input); column h-1 is order h.
    """
    x = np.asarray(samples, dtype=float)
    one_d = x.ndim == 1
    x = np.atleast_2d(x)
    fs, f1 = float(sample_rate_hz), float(f1_hz)
    c = iec_window_cycles(f1) if cycles is None else int(cycles)
    per_cycle = fs / f1
    available = int(np.floor(x.shape[1] / per_cycle + 1e-9))
    c = max(1, min(c, available))
    n_win = int(round(c * per_cycle))
    if n_win < 2 or n_win > x.shape[1]:
        raise ValueError("waveform shorter than one fundamental cycle")
    spec = np.fft.rfft(x[:, :n_win], axis=1)
    rms = np.abs(spec) / n_win
    rms[:, 1:] *= np.sqrt(2.0)
    if n_win % 2 == 0:
        rms[:, -1] /= np.sqrt(2.0)  # Nyquist bin is not doubled
    orders = np.arange(1, max_order + 1)
    centre = orders * c
    ok = centre + 1 < rms.shape[1]
    idx = np.clip(np.stack([centre - 1, centre, centre + 1]), 0, rms.shape[1] - 1)
    sg = np.sqrt((rms[:, idx] ** 2).sum(axis=1))
    sg[:, ~ok] = np.nan
    return sg[0] if one_d else sg


def thd_pct_from_magnitudes(magnitudes: ArrayLike, max_order: int = THD_MAX_ORDER) -> NDArray[np.float64]:
    """THD = √(Σ_{h=2..H} U_h²) / U_1 × 100 % (EN 50160, IEC 61000-4-7), H = 40 by default.

    ``magnitudes`` is (..., K) RMS magnitudes with element h-1 = order h (element 0 = the
    fundamental), as in ``HarmonicSpectrum``. Orders above K (or NaN entries) are treated as
    not reported. NaN where U_1 ≤ 0 or nothing is reported.
    """
    m = np.asarray(magnitudes, dtype=float)
    if m.shape[-1] == 0:
        return np.full(m.shape[:-1], np.nan)
    u1 = m[..., 0]
    hs = m[..., 1:max_order]
    ss = np.nansum(hs * hs, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(u1 > 0, np.sqrt(ss) / np.where(u1 > 0, u1, 1.0) * 100.0, np.nan)


def thd_pct_from_waveform(
    samples: ArrayLike,
    sample_rate_hz: float,
    f1_hz: float,
    max_order: int = THD_MAX_ORDER,
) -> NDArray[np.float64]:
    """THD (%) of a sampled waveform from IEC 61000-4-7 harmonic subgroups, H = 40.

    Subgroups above Nyquist (sample rate too low for order 40) are left out; to cover H = 40
    at 50 Hz the sample rate must exceed 2·(40·50 + 5) Hz.
    """
    sg = harmonic_subgroups_rms(samples, sample_rate_hz, f1_hz, max_order=max_order)
    return thd_pct_from_magnitudes(sg, max_order=max_order)


def harmonic_magnitudes_pct(magnitudes: ArrayLike) -> NDArray[np.float64]:
    """Individual harmonic magnitudes in % of the fundamental, U_h / U_1 × 100 (element 0 = 100)."""
    m = np.asarray(magnitudes, dtype=float)
    u1 = m[..., :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(u1 > 0, m / np.where(u1 > 0, u1, 1.0) * 100.0, np.nan)


def ieee519_voltage_limits_pct(
    bus_voltage_v: ArrayLike,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """IEEE 519-2014 voltage distortion limits at the PCC: (individual %, THD %).

    By the nominal bus (line-to-line) voltage V: V ≤ 1 kV: 5 / 8; 1 kV < V ≤ 69 kV: 3 / 5;
    69 kV < V ≤ 161 kV: 1.5 / 2.5; V > 161 kV: 1 / 1.5. A phase-to-neutral nominal U_n of a
    three-phase system corresponds to a bus voltage of √3·U_n.
    """
    v = np.asarray(bus_voltage_v, dtype=float)
    edges = np.array([1e3, 69e3, 161e3])
    band = np.searchsorted(edges, v, side="left")  # V == edge stays in the lower band
    individual = np.array([5.0, 3.0, 1.5, 1.0])[band]
    thd = np.array([8.0, 5.0, 2.5, 1.5])[band]
    return individual, thd


def thd_limit_pct(bus_voltage_v: ArrayLike, standard: str = "ieee519") -> NDArray[np.float64]:
    """THD limit (%) by voltage level: ``"ieee519"`` (see above) or ``"en50160"`` (8 %, LV/MV)."""
    if standard == "ieee519":
        return ieee519_voltage_limits_pct(bus_voltage_v)[1]
    if standard == "en50160":
        return np.full(np.shape(bus_voltage_v), EN50160_THD_LIMIT_PCT)
    raise ValueError(f"unknown standard {standard!r}")
