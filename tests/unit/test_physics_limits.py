"""IEEE 1159 categories, ROCOF with real Δt and EN 50160 bands (standards.md)."""

import numpy as np
import pytest

from gridtwin.physics import en50160
from gridtwin.physics.limits import (
    ieee1159_category,
    rocof_hz_per_s,
    rocof_series_hz_per_s,
)

CASES = [
    # magnitude pu, duration s, nominal Hz, category
    (0.5, 0.4 / 60, 60, "too_short"),
    (0.5, 0.5 / 60, 60, "instantaneous_sag"),  # 0.5 cycles at 60 Hz
    (0.5, 0.6, 50, "instantaneous_sag"),  # exactly 30 cycles at 50 Hz
    (0.5, 0.61, 50, "momentary_sag"),
    (0.5, 0.51, 60, "momentary_sag"),  # 30.6 cycles at 60 Hz
    (0.5, 3.0, 50, "momentary_sag"),
    (0.5, 3.01, 50, "temporary_sag"),
    (0.5, 60.0, 60, "temporary_sag"),
    (0.85, 60.01, 60, "undervoltage"),
    (0.5, 120.0, 50, "unclassified"),  # a sustained 0.5 pu level is not in Table 2
    (0.1, 0.1, 50, "instantaneous_sag"),  # 0.1 pu is a sag, below is an interruption
    (0.09, 0.1, 50, "momentary_interruption"),
    (0.09, 3.0, 50, "momentary_interruption"),
    (0.09, 3.5, 50, "temporary_interruption"),
    (0.0, 61.0, 60, "sustained_interruption"),
    (0.9, 10.0, 50, "normal"),
    (1.1, 10.0, 50, "normal"),
    (1.11, 0.1, 50, "instantaneous_swell"),
    (1.8, 0.5, 60, "instantaneous_swell"),
    (1.3, 1.0, 50, "momentary_swell"),
    (1.5, 1.0, 50, "unclassified"),  # momentary swells stop at 1.4 pu
    (1.15, 10.0, 60, "temporary_swell"),
    (1.15, 120.0, 50, "overvoltage"),
    (1.25, 120.0, 50, "unclassified"),
]


@pytest.mark.parametrize(("mag", "dur", "fn", "cat"), CASES)
def test_ieee1159_band_edges(mag: float, dur: float, fn: float, cat: str) -> None:
    assert ieee1159_category(mag, dur, fn) == cat


def test_ieee1159_vectorised() -> None:
    m, d, f, cats = zip(*CASES, strict=True)
    assert list(ieee1159_category(np.array(m), np.array(d), np.array(f))) == list(cats)


def test_rocof_irregular_dt() -> None:
    f = [50.0, 49.9, 49.95, 49.65]
    t = [0.0, 0.5, 2.5, 2.6]  # Δt = 0.5, 2.0, 0.1 s
    assert np.allclose(rocof_series_hz_per_s(f, t), [-0.2, 0.025, -3.0])
    assert np.isnan(rocof_hz_per_s(60.1, 60.0, 0.0))
    assert np.isnan(rocof_hz_per_s(60.1, np.nan, 1.0))


def test_en50160_voltage_flags_120v() -> None:
    v = np.array([108.0, 107.9, 102.0, 101.9, 132.0, 132.1])
    assert list(en50160.voltage_within_10pct(v, 120.0)) == [1, 0, 0, 0, 1, 0]
    assert list(en50160.voltage_within_plus10_minus15pct(v, 120.0)) == [1, 1, 1, 0, 1, 0]


def test_en50160_frequency_flags_60hz() -> None:
    f = np.array([59.4, 59.39, 60.6, 60.61, 56.4, 56.39, 62.4, 62.41])
    assert list(en50160.frequency_within_normal_band(f, 60.0)) == [1, 0, 1, 0, 0, 0, 0, 0]
    assert list(en50160.frequency_within_always_band(f, 60.0)) == [1, 1, 1, 1, 1, 0, 1, 0]
    # 50 Hz reading of the standard's own numbers
    f50 = np.array([49.5, 50.5, 47.0, 52.0, 46.99, 52.01])
    assert list(en50160.frequency_within_normal_band(f50, 50.0)) == [1, 1, 0, 0, 0, 0]
    assert list(en50160.frequency_within_always_band(f50, 50.0)) == [1, 1, 1, 1, 0, 0]


def test_en50160_islanded_60hz() -> None:
    f = np.array([61.2, 61.21, 69.0, 69.01, 51.0])
    assert list(en50160.frequency_within_normal_band(f, 60.0, islanded=True)) == [1, 0, 0, 0, 0]
    assert list(en50160.frequency_within_always_band(f, 60.0, islanded=True)) == [1, 1, 1, 0, 1]
