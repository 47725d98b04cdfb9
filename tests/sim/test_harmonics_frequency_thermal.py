"""Harmonic windows, frequency dynamics, transformer ageing."""

import numpy as np
import pytest

from gridsim.frequency import simulate_frequency, trip_summary
from gridsim.harmonics import generate_windows, harmonic_magnitudes, n_cycles_for, thd_from_waveform
from gridsim.thermal import ageing_rate, hot_spot


def test_thd_hand_vector():
    n_c, spc = 10, 128
    t = np.arange(n_c * spc) / (spc * 50.0)
    x = np.sqrt(2) * (
        230 * np.sin(2 * np.pi * 50 * t)
        + 11.5 * np.sin(2 * np.pi * 250 * t)
        + 6.9 * np.sin(2 * np.pi * 350 * t)
    )
    m = harmonic_magnitudes(x, n_c)
    assert m[1] == pytest.approx(230, rel=1e-9) and m[5] == pytest.approx(11.5, rel=1e-9)
    assert thd_from_waveform(x, n_c) == pytest.approx(np.hypot(5, 3), rel=1e-6)


@pytest.mark.parametrize("f0", [50.0, 60.0])
def test_waveform_thd_and_dominant_orders_match_labels(f0):
    rng = np.random.default_rng(0)
    n = 400
    un = 230.0 if f0 == 50 else 120.0
    arr, lab = generate_windows(
        n, f0, un, rng, np.full(n, 0.08 + 0.02j), np.full(n, 0.3 + 0.08j), np.full(n, 40.0), snr_db=(70, 80)
    )
    nc = n_cycles_for(f0)
    assert nc == (10 if f0 == 50 else 12)
    v = arr["voltage"].astype(float) * arr["voltage_scale"][:, None]
    i = arr["current"].astype(float) * arr["current_scale"][:, None]
    assert np.abs(thd_from_waveform(v, nc) - lab.true_thd_v_pct).max() < 0.05
    assert np.abs(thd_from_waveform(i, nc) - lab.true_thd_i_pct).max() < 0.05
    mi = harmonic_magnitudes(i, nc, 50)
    top = np.argsort(-mi[:, 2:], axis=1)[:, :2] + 2
    for src, tp in zip(lab.source_type, top, strict=False):
        if src == "six_pulse_drive":
            assert set(tp) == {5, 7}
        elif src == "smps_led":
            assert tp[0] == 3
        elif src == "pv_inverter":
            assert tp[0] > 30
    assert lab.groupby("source_type").true_thd_i_pct.mean()["pv_inverter"] < 5


def test_thd_noise_floor_at_low_snr():
    rng = np.random.default_rng(1)
    n = 100
    arr, lab = generate_windows(
        n,
        50.0,
        230.0,
        rng,
        np.full(n, 0.08 + 0.02j),
        np.full(n, 0.3 + 0.08j),
        np.full(n, 40.0),
        snr_db=(30, 30),
    )
    v = arr["voltage"].astype(float) * arr["voltage_scale"][:, None]
    err = thd_from_waveform(v, 10) - lab.true_thd_v_pct
    assert np.abs(err).max() < 2.0  # bounded measurement-noise bias at 30 dB


def test_frequency_normal_within_en50160_and_trip_has_nadir_and_recovery():
    rng = np.random.default_rng(0)
    f = simulate_frequency(4 * 3600, 50.0, rng)
    assert f.frequency_hz.between(49.5, 50.5).all()
    trips = [(1800, 0.02)]
    g = simulate_frequency(3600, 50.0, np.random.default_rng(0), noise_mhz=0.0, trips=trips)
    s = trip_summary(g, trips, 50.0).iloc[0]
    assert 49.0 < s.nadir_hz < 49.95
    assert s.max_rocof_hz_per_s < -0.02
    assert 1 <= s.time_to_nadir_s <= 30
    after = g.frequency_hz.to_numpy()[1800 + 900]
    assert abs(after - 50.0) < abs(s.nadir_hz - 50.0) / 3  # AGC recovery


def test_frequency_60hz():
    f = simulate_frequency(3600, 60.0, np.random.default_rng(2))
    assert f.frequency_hz.between(59.4, 60.6).all()


def test_ageing_rate_and_hot_spot():
    assert ageing_rate(98.0) == pytest.approx(1.0)
    assert ageing_rate(104.0) == pytest.approx(2.0)
    assert ageing_rate(92.0) == pytest.approx(0.5)
    # steady state at rated load: θh = θa + Δθor + Hgr = 20 + 55 + 23
    _, th = hot_spot(np.ones(2000), np.full(2000, 20.0), 1.0)
    assert th[-1] == pytest.approx(98.0, abs=0.1)
    # step to K = 1.5: hot spot rises with the oil time constant (hours), not instantly
    k = np.r_[np.ones(10), np.full(600, 1.5)]
    _, th2 = hot_spot(k, np.full(len(k), 20.0), 1.0)
    assert th2[20] < th2[300] < th2[-1]
