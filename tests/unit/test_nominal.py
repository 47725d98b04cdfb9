"""Nominal frequency: stated, else inferred from the measurement, else unknown (never 50 Hz)."""

from __future__ import annotations

import numpy as np

from gridtwin.features.nominal import nominal_frequency_or_inferred_hz


def test_stated_nominal_wins_then_the_closest_standard_then_nothing() -> None:
    stated = np.array([60.0, np.nan, 0.0, np.nan, -1.0])
    measured = np.array([50.02, 59.97, 49.9, np.nan, 0.0])
    got = nominal_frequency_or_inferred_hz(stated, measured)
    np.testing.assert_array_equal(got[:3], [60.0, 60.0, 50.0])
    assert np.isnan(got[3:]).all()
