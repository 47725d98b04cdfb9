"""Dataset reproducibility, schema, real data."""

import numpy as np
import pandas as pd
import pytest

from gridsim.dataset import PROFILES, Profile, build_tables
from gridsim.network import GridSettings, build_feeder
from gridsim.simulate import READING_COLUMNS, simulate

SMALL = Profile(days={}, library_events=10)


def _run(seed, settings=None, scen=("fault", "high_pv")):
    fd = build_feeder("kerber_dorfnetz", settings, n_customer_meters=4, seed=seed)
    res = simulate(fd, list(scen), pd.Timestamp("2023-06-01", tz="UTC"), 60, seed)
    return res, build_tables(res, seed, SMALL)


@pytest.fixture(scope="module")
def run0():
    return _run(0)


def test_same_seed_identical(run0):
    _, t2 = _run(0)
    for name in ("readings", "sag_events", "voltage_anomaly", "imbalance"):
        pd.testing.assert_frame_equal(run0[1][name], t2[name])


def test_readings_schema_and_physics(run0):
    r = run0[1]["readings"]
    assert list(r.columns) == READING_COLUMNS
    assert str(r.timestamp.dt.tz) == "UTC"
    s = np.hypot(r.active_power_a, r.reactive_power_a)
    # |S| = V·I up to the registers' rounding (0.1 V, 0.01 A, 1 W, 1 var)
    bound = 0.05 * r.current_a + 0.005 * r.voltage_a + 0.05 * 0.005 + np.sqrt(2) * 0.5 + 1e-6
    assert (np.abs(s - r.voltage_a * r.current_a) <= bound).all()
    assert (r.active_power_a < 0).any() or (r.active_power_b < 0).any()  # PV export


def test_label_tables_present(run0):
    t = run0[1]
    for name in (
        "voltage_anomaly",
        "imbalance",
        "loading",
        "losses",
        "instability",
        "load_series",
        "sag_events",
        "event_traces",
        "frequency",
        "customers",
    ):
        assert len(t[name]) > 0, name
    sag = t["sag_events"]
    assert set(sag.cause) <= {"fault", "motor_start", "transformer_energising", "upstream_reclose"}
    tr = t["event_traces"]
    assert set(READING_COLUMNS) <= set(tr.columns)


def test_120v_60hz_dataset():
    res, t = _run(1, GridSettings(120.0, 60.0), scen=("normal",))
    r = t["readings"]
    assert (r.nominal_voltage == 120).all() and (r.nominal_frequency == 60).all()
    sup = r[r.voltage_a > 1]
    assert sup.voltage_a.between(100, 135).all()
    assert r.frequency.between(59, 61).all()


def test_profiles_defined():
    assert set(PROFILES) == {"quick", "full"}


def test_taylor_real_data():
    from gridsim.realdata import load_taylor_demand, taylor_split

    y = load_taylor_demand()
    assert len(y) == 4032 and isinstance(y.index, pd.DatetimeIndex)
    assert y.index[0] == pd.Timestamp("2000-06-05", tz="UTC")
    assert y.index[-1] == pd.Timestamp("2000-08-27 23:30", tz="UTC")
    fit, test = taylor_split(y)
    assert len(fit) == 8 * 336 and len(test) == 4 * 336


def test_generating_profiles_leaves_the_warning_filters_alone():
    # demandlib sets a global "error" filter; the simulator must not let it leak.
    import warnings

    from gridsim.loads import slp_year

    slp_year.cache_clear()
    before = list(warnings.filters)
    slp_year(2019)
    assert warnings.filters == before
