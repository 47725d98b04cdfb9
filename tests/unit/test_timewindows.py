"""Time-based windows and the per-meter baseline (gridtwin.features.timewindows): spans of real
time, trends as regressions on time, unsupported windows missing, gaps, band-gated baseline."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.features.timewindows import (
    NQ,
    advance,
    baseline_features,
    chain_states,
    empty_states,
    window_features,
)


def _run(t: np.ndarray, y: np.ndarray, vph: np.ndarray | None = None):
    """States before each reading and window features after each, one meter."""
    n = len(t)
    yy = np.repeat(y[:, None], NQ, axis=1)
    vph = np.ones((n, 3)) if vph is None else vph
    before = chain_states(empty_states(1), np.zeros(n, np.intp), t, yy, vph)
    after = advance(before, t, yy, vph)
    return before, window_features(after, t), vph


def test_trend_is_a_regression_on_time_with_irregular_cadence():
    rng = np.random.default_rng(0)
    t = 1e9 + np.cumsum(rng.uniform(20, 100, 400))  # irregular, 20–100 s
    y = 1.0 + 2e-6 * (t - t[0])  # an exact ramp: every weighted LS slope is 2e-6 /s
    _, f, _ = _run(t, y)
    for w in ("10min", "2h"):
        got = f[f"win{w}_voltage_mean_pu_trend_per_s"][-50:]
        assert np.allclose(got, 2e-6, rtol=1e-6)


def test_window_the_cadence_cannot_support_is_missing():
    t15 = 1e9 + 900.0 * np.arange(200)
    _, f, _ = _run(t15, np.ones(200))
    assert np.isnan(f["win3s_voltage_mean_pu_mean"]).all()
    assert np.isnan(f["win10min_voltage_mean_pu_std"]).all()
    assert np.isfinite(f["win2h_voltage_mean_pu_std"][20:]).all()
    t1 = 1e9 + np.arange(20.0)
    _, f, _ = _run(t1, np.ones(20))
    assert np.isnan(f["win3s_voltage_mean_pu_mean"][:3]).all()  # not yet 3 s of readings
    assert np.isfinite(f["win3s_voltage_mean_pu_mean"][3:]).all()


def test_a_long_gap_restarts_a_window():
    t = np.r_[1e9 + 60.0 * np.arange(100), 1e9 + 60.0 * 99 + 86400 + 60.0 * np.arange(15)]
    y = np.r_[np.ones(100), 1.05 * np.ones(15)]
    _, f, _ = _run(t, y)
    assert f["win10min_effective_readings"][100] == 1.0
    assert np.isnan(f["win10min_voltage_mean_pu_mean"][100:110]).all()  # < 10 min since the restart
    assert f["win10min_voltage_mean_pu_mean"][110] == pytest.approx(1.05)  # no trace of before


def test_baseline_ignores_readings_outside_the_band():
    n = 200
    t = 1e9 + 60.0 * np.arange(n)
    vph = np.full((n, 3), 1.04)  # a meter living at 240 V on 230 V nominal
    vph[150:160] = 0.6  # a 10-min sag
    before, _, _ = _run(t, vph.mean(axis=1), vph)
    b = baseline_features(before, t, vph, np.full(n, 60.0))
    assert b["baseline_voltage_a_pu_mean"][170] == pytest.approx(1.04)
    assert abs(b["voltage_a_baseline_z"][170]) < 1e-6  # its own normal, not 1 pu
    assert b["voltage_a_baseline_z"][155] < -50
    assert b["undervoltage_duration_s"][159] == pytest.approx(600.0)  # 9 × 60 s so far + its own 60 s
    assert np.isnan(b["voltage_a_baseline_z"][:10]).all()  # no baseline before 10 min


def test_another_nominal_restarts_the_state():
    """An inferred U_n replaced by the meter's stated one: pu values on another scale are not
    this meter's normal, so windows and baseline restart."""
    n = 40
    t = 1e9 + 60.0 * np.arange(n)
    vn = np.r_[np.full(20, 230.0), np.full(20, 220.0)]
    vph = (231.0 / vn)[:, None] * np.ones((n, 3))
    yy = np.repeat(vph[:, :1], NQ, axis=1)
    before = chain_states(empty_states(1), np.zeros(n, np.intp), t, yy, vph, vn)
    b = baseline_features(before, t, vph, np.full(n, 60.0), vn)
    assert np.isfinite(b["voltage_a_baseline_z"][19])
    assert np.isnan(b["voltage_a_baseline_z"][20:30]).all()  # restarted: < 10 min on the new scale
    after = advance(before, t, yy, vph, vn)
    assert window_features(after, t)["win2h_effective_readings"][20] == 1.0
