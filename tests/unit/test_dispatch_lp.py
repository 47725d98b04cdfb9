"""The dispatch LP against hand-solvable cases and the surrogate helpers (the SVR surrogate's ONNX
parity is in tests/models/test_onnx_parity.py)."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.decision.dispatch import (
    DispatchLP,
    DispatchParams,
    H,
    baseline_cost,
    clear_sky_ghi,
    forecasts,
    settle_first_hour,
)


def test_clear_sky_is_zero_at_night_and_peaks_near_solar_noon() -> None:
    day = 1684108800.0  # 2023-05-15 00:00 UTC
    hours = np.arange(24)
    ghi = clear_sky_ghi(day + hours * 3600.0, 51.0, 10.0)
    assert ghi[0] == 0.0 and ghi[22] == 0.0
    assert abs(int(np.argmax(ghi)) - 11) <= 1  # solar noon at 10° E ≈ 11:20 UTC
    assert 700 < ghi.max() < 1000


def test_no_resources_lp_equals_baseline() -> None:
    # Without battery, genset and PV the only decision is grid import: LP cost = no-optimisation cost.
    p = DispatchParams(battery_kw=0.0, genset_kw=0.0, pv_kwp=0.0, battery_wear=0.0)
    lp = DispatchLP(p)
    d, a, pr = forecasts(p, np.array([1684108800.0]), np.array([50.0]))
    res = lp.solve(d[0], a[0], pr[0], 0.5)
    assert res.ok
    assert res.cost == pytest.approx(float(baseline_cost(p, d, a, pr)[0]), rel=1e-6)
    assert res.grid_import_kw == pytest.approx(50.0)


def test_genset_runs_only_when_cheaper_than_grid() -> None:
    p = DispatchParams(battery_kw=0.0, pv_kwp=0.0, typical_kw=(30.0,) * 24)
    lp = DispatchLP(p)
    peak = 1684108800.0 + 17 * 3600  # 17 h UTC: peak tariff 0.38 > genset 0.32
    night = 1684108800.0 + 2 * 3600  # off-peak 0.12 < 0.32
    for t, expect in ((peak, 30.0), (night, 0.0)):
        d, a, pr = forecasts(p, np.array([t]), np.array([30.0]))
        assert lp.solve(d[0], a[0], pr[0], 0.5).genset_kw == pytest.approx(expect, abs=1e-6)


def test_battery_arbitrage_beats_baseline_and_respects_limits() -> None:
    p = DispatchParams(pv_kwp=0.0, genset_kw=0.0, typical_kw=(40.0,) * 24)
    lp = DispatchLP(p)
    d, a, pr = forecasts(p, np.array([1684108800.0]), np.array([40.0]))
    res = lp.solve(d[0], a[0], pr[0], 0.5)
    base = float(baseline_cost(p, d, a, pr)[0])
    assert res.cost < base  # charge off-peak, discharge at the peak
    assert -p.battery_kw - 1e-9 <= res.battery_kw <= p.battery_kw + 1e-9
    # power balance of the first hour
    assert res.grid_import_kw + res.battery_kw + res.genset_kw + (
        a[0, 0] - res.pv_curtailment_kw
    ) == pytest.approx(d[0, 0], abs=1e-6)


def test_fixing_first_hour_never_beats_optimum() -> None:
    p = DispatchParams()
    lp = DispatchLP(p)
    d, a, pr = forecasts(p, np.array([1684108800.0 + 10 * 3600]), np.array([20.0]))
    opt = lp.solve(d[0], a[0], pr[0], 0.3)
    for b, g in ((0.0, 0.0), (10.0, 0.0), (-30.0, 10.0)):  # feasible at SoC 30 %
        assert lp.solve(d[0], a[0], pr[0], 0.3, fix_first=(b, g)).cost >= opt.cost - 1e-6


def test_settle_first_hour_balances_power() -> None:
    p = DispatchParams()
    d = np.array([50.0, -100.0, 10.0])
    a = np.array([0.0, 50.0, 70.0])
    s = settle_first_hour(
        p, d, a, np.array([500.0, -500.0, 0.0]), np.array([-5.0, 0.0, 80.0]), np.full(3, 0.5)
    )
    assert np.all(np.abs(s["battery_kw"]) <= p.battery_kw + 1e-9)
    assert np.all((s["genset_kw"] >= 0) & (s["genset_kw"] <= p.genset_kw))
    assert np.all((s["pv_curtailment_kw"] >= 0) & (s["pv_curtailment_kw"] <= a + 1e-9))
    assert H == 24
