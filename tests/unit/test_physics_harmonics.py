"""THD, IEC 61000-4-7 subgroups and harmonic limits (standards.md Harmonics)."""

import math

import numpy as np
import pytest

from gridtwin.physics import harmonics as hm


def _wave(f1: float, fs: float, comps: dict[float, float], seconds: float = 0.2) -> np.ndarray:
    """Sum of sines; comps maps frequency (Hz) to RMS magnitude (V)."""
    t = np.arange(int(round(seconds * fs))) / fs
    return sum(
        math.sqrt(2) * u * np.sin(2 * np.pi * f * t + 0.3 * k) for k, (f, u) in enumerate(comps.items())
    )


def test_window_cycles() -> None:
    assert hm.iec_window_cycles(50) == 10
    assert hm.iec_window_cycles(60) == 12


def test_thd_50hz_230v() -> None:
    # U1 = 230 V, U5 = 5 %, U7 = 3 % -> THD = sqrt(25 + 9) = 5.831 %
    x = _wave(50, 10_000, {50: 230.0, 250: 11.5, 350: 6.9})
    assert hm.thd_pct_from_waveform(x, 10_000, 50) == pytest.approx(math.sqrt(34), rel=1e-9)
    sg = hm.harmonic_subgroups_rms(x, 10_000, 50)
    assert sg[0] == pytest.approx(230.0) and sg[4] == pytest.approx(11.5)


def test_thd_60hz_120v() -> None:
    # U1 = 120 V, U3 = 5 %, U5 = 3 %, U11 = 2 % -> THD = sqrt(25 + 9 + 4) = 6.164 %
    x = _wave(60, 12_000, {60: 120.0, 180: 6.0, 300: 3.6, 660: 2.4})
    assert hm.thd_pct_from_waveform(x, 12_000, 60) == pytest.approx(math.sqrt(38), rel=1e-9)
    # 12 cycles at 60 Hz = 0.2 s -> 5 Hz bins; a longer record uses the first window only
    x_long = _wave(60, 12_000, {60: 120.0, 180: 6.0}, seconds=0.5)
    assert hm.thd_pct_from_waveform(x_long, 12_000, 60) == pytest.approx(5.0, rel=1e-9)


def test_subgroup_groups_neighbour_bins() -> None:
    # 250 Hz (order 5) 10 V plus 255 Hz (the next 5 Hz bin) 4 V -> subgroup sqrt(116);
    # 275 Hz (bin 55, not a neighbour of bins 50 or 60) is excluded from every subgroup.
    x = _wave(50, 10_000, {50: 230.0, 250: 10.0, 255: 4.0, 275: 7.0})
    sg = hm.harmonic_subgroups_rms(x, 10_000, 50)
    assert sg[4] == pytest.approx(math.sqrt(116), rel=1e-9)
    assert sg[5] == pytest.approx(0.0, abs=1e-9)
    assert hm.thd_pct_from_waveform(x, 10_000, 50) == pytest.approx(math.sqrt(116) / 230 * 100, rel=1e-9)


def test_thd_vectorised_rows() -> None:
    rows = np.stack([_wave(50, 10_000, {50: 230.0, 150: 23.0}), _wave(50, 10_000, {50: 230.0})])
    out = hm.thd_pct_from_waveform(rows, 10_000, 50)
    assert out[0] == pytest.approx(10.0) and out[1] == pytest.approx(0.0, abs=1e-9)


def test_thd_from_reported_magnitudes_h40() -> None:
    mags = np.zeros(50)
    mags[0], mags[2], mags[4] = 120.0, 6.0, 3.6  # orders 1, 3, 5
    mags[44] = 50.0  # order 45 lies beyond H = 40 and is ignored
    assert hm.thd_pct_from_magnitudes(mags) == pytest.approx(math.sqrt(34))
    assert np.isnan(hm.thd_pct_from_magnitudes([0.0, 1.0]))
    pct = hm.harmonic_magnitudes_pct(mags)
    assert pct[0] == 100.0 and pct[2] == pytest.approx(5.0)


def test_limits_by_voltage_level() -> None:
    ind, thd = hm.ieee519_voltage_limits_pct([400, 1000, 11e3, 69e3, 132e3, 400e3])
    assert list(ind) == [5.0, 5.0, 3.0, 3.0, 1.5, 1.0]
    assert list(thd) == [8.0, 8.0, 5.0, 5.0, 2.5, 1.5]
    assert hm.thd_limit_pct(208.0, "en50160") == 8.0
    with pytest.raises(ValueError):
        hm.thd_limit_pct(400.0, "nope")
