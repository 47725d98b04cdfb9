"""The variety real meters have (issue 9 item 3): accuracy classes, resolution, cadences,
set-points, per-customer power factors, appliance steps, transformer overload, harmonic
mixtures."""

import numpy as np
import pandas as pd
import pytest

from gridsim.appliances import CATALOGUE, appliance_steps
from gridsim.cadence import interval_average, interval_starts
from gridsim.harmonics import SOURCE_TYPES, relative_current
from gridsim.network import PF_RANGE, build_feeder
from gridsim.sensors import RESOLUTION, apply_noise, channel_gains, quantise
from gridsim.setpoints import SETPOINT_RANGE_PU, draw_setpoints, tap_positions
from gridsim.simulate import simulate

START = pd.Timestamp("2023-06-01", tz="UTC")


@pytest.mark.parametrize("cls", [0.5, 1.0])
def test_accuracy_class_error_bounds(cls):
    rng = np.random.default_rng(1)
    shape = (40, 3, 500)
    v = np.full(shape, 230.0)
    i = np.full(shape, 20.0)
    p, q = v * i * 0.95, v * i * 0.31
    vm, im, pm, _ = apply_noise(v, i, p, q, rng, np.full(40, cls))
    ev, ep = np.abs(vm / v - 1), np.abs(pm / p - 1)
    assert ev.max() <= 0.495 * cls / 100 + 1e-12 and np.abs(im / i - 1).max() <= 0.495 * cls / 100 + 1e-12
    assert ep.max() <= cls / 100  # IEC 62053 active-power limit at reference conditions
    assert ep.max() > 0.5 * cls / 100  # the errors use the class's room, not a token noise
    # a per-meter calibration error: meters disagree systematically
    assert np.std((vm / v - 1).mean(axis=2)) > 0.1 * cls / 100  # per channel: calibration


def test_class_1_meters_err_more_than_class_half():
    rng = np.random.default_rng(2)
    g05 = channel_gains(np.full(50, 0.5), (50, 3, 200), rng)
    g1 = channel_gains(np.full(50, 1.0), (50, 3, 200), rng)
    assert np.abs(g1 - 1).std() > 1.5 * np.abs(g05 - 1).std()


def test_voltage_resolution_is_0_1_v():
    rng = np.random.default_rng(3)
    v = rng.uniform(200, 250, (5, 3, 100))
    vq, iq, pq, _ = quantise(v, v / 10, v * 3, v)
    assert RESOLUTION["voltage_v"] == 0.1
    assert np.allclose(vq * 10, np.round(vq * 10), atol=1e-9)
    assert np.abs(vq - v).max() <= 0.05 + 1e-9 and np.abs(vq - v).max() > 0.04
    assert np.allclose(iq * 100, np.round(iq * 100), atol=1e-7) and np.allclose(pq, np.round(pq))


def test_interval_average_is_the_mean_of_the_fine_series():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 60 * 47))  # 47 h at 1 min, a partial last hour
    avg = interval_average(x, 60, 900)
    assert avg.shape == (2, 3, 47 * 4)
    assert np.allclose(avg[..., 5], x[..., 75:90].mean(axis=-1))
    t = pd.date_range(START, periods=x.shape[-1], freq="60s")
    starts = interval_starts(t, 60, 900)
    assert len(starts) == avg.shape[-1] and starts[1] - starts[0] == pd.Timedelta(minutes=15)
    with pytest.raises(ValueError, match="interval_s"):
        interval_average(x, 60, 1000)


def test_setpoints_span_the_band_and_taps_stay_inside():
    rng = np.random.default_rng(5)
    sp = draw_setpoints(2000, rng)
    lo, hi = SETPOINT_RANGE_PU
    assert (lo, hi) == (0.95, 1.06)
    assert sp.min() >= lo and sp.max() <= hi and sp.min() < lo + 0.005 and sp.max() > hi - 0.005
    block = np.repeat(np.arange(20), 100)
    ops = [(int(k), int(rng.integers(10, 300)), int(rng.choice([-1, 1]))) for k in rng.integers(0, 2000, 80)]
    pos, steps = tap_positions(sp[:20], block, ops)
    assert pos.min() >= lo - 1e-12 and pos.max() <= hi + 1e-12
    # every change of position is a recorded step
    rebuilt = np.full(len(pos), pos[0])
    for k, d in steps:
        rebuilt[k:] += d
    assert np.allclose(rebuilt, pos)


def test_customer_power_factors_are_drawn_and_used():
    fd = build_feeder("kerber_dorfnetz", None, 4, seed=0)
    c = fd.customers
    for prof, (lo, hi) in PF_RANGE.items():
        pf = c.power_factor[c.slp_profile == prof]
        assert pf.between(lo, hi).all()
    assert c.power_factor.std() > 0.01 and c.power_factor.nunique() > 40
    res = simulate(fd, ["normal"] * 2, START, 60, 0, rms_events=False)
    plain = (c.pv_kwp == 0) & ~c.has_ev & ~c.has_ac & (c.customer_type != "peak_shaver")
    night = slice(0, 240)  # 00-04 UTC: no PV, no AC
    s = res.s_cust[plain.to_numpy(), night]
    ratio = s.imag.sum(axis=1) / s.real.sum(axis=1)
    tan = np.tan(np.arccos(c.power_factor[plain]))
    assert np.corrcoef(ratio, tan)[0, 1] > 0.9


def test_appliance_steps_are_catalogue_rectangles():
    rng = np.random.default_rng(6)
    rate = np.full((5, 3000), 0.002)
    p, q, events = appliance_steps(rate, 60.0, rng)
    assert len(events) > 10
    ranges = {a.name: a for a in CATALOGUE}
    energy = 0.0
    for _c, k0, k1, w, name in events:
        a = ranges[name]
        assert a.power_w[0] <= w <= a.power_w[1]
        assert k1 - k0 <= round(a.minutes[1]) + 1 and k1 > k0
        energy += w * (k1 - k0)
    assert np.isclose(p.sum(), energy)
    # the edges are exact steps: an isolated event raises the series by its power
    c, k0, k1, w, _ = events[0]
    if not any(e[0] == c and e[1] <= k0 < e[2] for e in events[1:]) and k0 > 0 and p[c, k0 - 1] == 0:
        assert p[c, k0] == pytest.approx(w)
    assert (q >= -1e-9).all() and (q <= p + 1e-9).all()


def test_ev_and_heat_wave_overload_the_transformer():
    """Kerber, 200 kVA: EV evening peak > 1 pu for 7.4 % of a day, heat wave 12.6 % (its
    afternoon and evening), a normal day never (max 0.75 pu); seed 1, measured."""
    fd = build_feeder("kerber_dorfnetz", None, 4, seed=0)
    rated = fd.meters.rated_current_a.iat[0]
    share = {}
    for sc in ("normal", "ev_evening_peak", "heat_wave"):
        res = simulate(fd, [sc] * 4, pd.Timestamp("2023-05-15", tz="UTC"), 60, 1, rms_events=False)
        share[sc] = float((res.i[0].max(axis=0) / rated > 1.0).mean())
    assert share["normal"] == 0.0
    assert share["ev_evening_peak"] >= 0.03
    assert share["heat_wave"] >= 0.10


def test_harmonic_mixture_labels_the_dominant_harmonic_source():
    rng = np.random.default_rng(7)
    n = 200
    one_hot = np.eye(len(SOURCE_TYPES))[np.arange(n) % len(SOURCE_TYPES)]
    _, lab = relative_current(np.array(SOURCE_TYPES)[np.arange(n) % 4], one_hot, rng)
    assert (lab == np.array(SOURCE_TYPES)[np.arange(n) % 4]).all()
    # 10 % electronics on 90 % linear load: the electronics dominate the harmonic current
    mix = np.tile([0.9, 0.0, 0.1, 0.0], (n, 1))
    rel, lab = relative_current(np.array(["background"] * n), mix, rng)
    assert (lab == "smps_led").all()
    assert np.allclose(rel[:, 1], 1.0) and (np.abs(rel[:, 3]) > 0.03).all()


def test_harmonic_windows_follow_the_meters_load_on_the_timeline():
    from gridsim.dataset import _harmonics, _source_mix

    fd = build_feeder("kerber_dorfnetz", None, 4, seed=0)
    # a sunny morning then a heat-wave afternoon: PV, AC drives, electronics and linear load
    res = simulate(fd, ["high_pv", "heat_wave"], START + pd.Timedelta(hours=6), 60, 0, rms_events=False)
    last = len(fd.meters) - 1
    mix = _source_mix(res, np.array([0, last]), np.array([10, 300]))
    assert np.allclose(mix[0], res.p_by_source[:, :, 10].sum(axis=0), rtol=1e-5)  # transformer: all
    assert np.allclose(mix[1], res.p_by_source[fd.meters.customer.iat[last], :, 300])
    _, lab = _harmonics(res, 200, 0)
    assert lab.timestamp.isin(res.times).all()
    shares = lab.source_mix.str.split(",").map(lambda kv: sum(float(x.split(":")[1]) for x in kv))
    assert np.allclose(shares, 1.0, atol=0.03)
    # balanced sampling: uniform points would be ~90 % smps_led
    assert lab.source_type.nunique() >= 3 and lab.source_type.value_counts(normalize=True).max() <= 0.6
