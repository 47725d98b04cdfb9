"""Decisions an operator would act on: "no action" below the materiality thresholds, and only
equipment that the meter's asset register lists (battery, genset, capacitor banks, tap changer,
switchable phases); action, with a severity that follows its consequence, where it is due."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.assets import Equipment
from gridtwin.decision.dispatch import forecasts
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModelConfig
from gridtwin.v1 import assessment_pb2 as pb
from tests.models import netopt_rows
from tests.models.register import simulated, with_register
from tests.models.simulator_batches import batch, readings

COL = {name: i for i, name in enumerate(FEATURE_NAMES)}
NOTHING: dict[str, Equipment] = {}  # a register without any equipment for these meters


def served(name: str, quick_registry, **config: float):
    from gridtwin.serving.module import default_factory

    return default_factory(name)(load_entry(name, quick_registry), ModelConfig(**config))


# ---- optimal_dispatch ----------------------------------------------------------------------
def test_household_without_battery_or_genset_gets_no_dispatch(quick_registry) -> None:
    model = served("optimal_dispatch", quick_registry, dispatch_lp_budget_ms=10_000)
    rows = readings("kerber_dorfnetz", "-C004", every=97, n=4)
    assert len(rows) == 4  # a household meter of the simulated feeder, without battery or genset
    out = model.predict(with_register(batch(rows), model.name))  # the simulated register
    demand_kw = rows["active_power_total_w"].to_numpy() / 1e3
    for o, kw in zip(out, demand_kw, strict=True):
        assert o.info.status == pb.OK and o.info.severity == pb.NORMAL
        assert o.info.detail.startswith("no action") and "no battery or genset" in o.info.detail
        d = o.dispatch_recommendation
        assert d.battery_kw == 0 and d.genset_kw == 0 and d.pv_curtailment_kw == 0
        assert d.grid_import_kw == pytest.approx(kw) and o.cost_savings == 0 and o.solver == "none"


def test_dispatch_only_of_registered_equipment_and_only_when_material(quick_registry) -> None:
    rows = readings("kerber_dorfnetz", "-TR", every=29, n=12)
    assert len(rows) == 12
    acting = served("optimal_dispatch", quick_registry, dispatch_lp_budget_ms=10_000, min_savings_eur_per_h=0)
    out = acting.predict(with_register(batch(rows), acting.name))
    assert all(o.info.status == pb.OK and o.solver == "lp" for o in out)
    assert any(o.info.severity == pb.ADVISORY and o.cost_savings > 0 for o in out)
    assert any(abs(o.dispatch_recommendation.battery_kw) > 0.1 for o in out)
    # A battery of 10 kW / 20 kWh and no genset: the LP with those ratings, never a genset.
    small = {"dorf-TR": Equipment(battery_kw=10.0, battery_kwh=20.0)}
    out = acting.predict(with_register(batch(rows), acting.name, small))
    assert all(o.solver == "lp" and o.dispatch_recommendation.genset_kw == 0 for o in out)
    assert all(abs(o.dispatch_recommendation.battery_kw) <= 10.0 + 1e-6 for o in out)
    # The same plans are not worth acting on at 1,000 EUR/h: NORMAL, battery and genset idle.
    idle = served(
        "optimal_dispatch", quick_registry, dispatch_lp_budget_ms=10_000, min_savings_eur_per_h=1000
    )
    out = idle.predict(with_register(batch(rows), idle.name))
    # With battery and genset idle the grid settles the balance of demand and community PV:
    # grid + (PV available - curtailed) = demand. A sunny hour with PV above the transformer's
    # demand exports (grid_import_kw < 0, reverse power flow), at most the DSO export limit.
    t_s = np.array([r.timestamp.seconds for r in batch(rows).readings], float)
    demand_kw, pv_kw, _ = forecasts(idle.params, t_s, rows["active_power_total_w"].to_numpy() / 1e3)
    for o, dem, pv in zip(out, demand_kw[:, 0], pv_kw[:, 0], strict=True):
        assert o.info.severity == pb.NORMAL and "below the 1000/h materiality threshold" in o.info.detail
        d = o.dispatch_recommendation
        assert d.battery_kw == 0 and d.genset_kw == 0 and o.cost_savings == 0
        assert d.grid_import_kw + pv - d.pv_curtailment_kw == pytest.approx(dem, abs=1e-6)
        assert -idle.params.export_max_kw - 1e-9 <= d.grid_import_kw
        assert d.grid_import_kw >= 0 or pv > dem  # export only from a PV surplus


def test_dispatch_without_the_register_says_so(quick_registry) -> None:
    model = served("optimal_dispatch", quick_registry)
    out = model.predict(batch(readings("kerber_dorfnetz", "-TR", n=2)))  # prepare did not run
    assert all(o.info.status == pb.DEGRADED and "asset register not read" in o.info.detail for o in out)


# ---- load_balancing -------------------------------------------------------------------------
def test_small_imbalance_is_no_action(quick_registry) -> None:
    model = served("load_balancing", quick_registry)
    rows = readings("kerber_dorfnetz", "-TR|-F", every=41, n=10)
    out = model.predict(with_register(batch(rows), model.name))
    small = [o for o in out if o.vuf_before_pct < 1.0]
    assert small, "the simulated feeder's ordinary imbalance is below 1 % VUF"
    for o in small:
        assert o.info.severity == pb.NORMAL and not o.moves
        assert "no action" in o.info.detail and "below the 1 % action threshold" in o.info.detail
        assert o.expected_vuf_pct == o.vuf_before_pct


def imbalanced(rows):
    """The same readings with phase a carrying three times its load (a real imbalance)."""
    b = batch(rows)
    b.features[:, COL["active_power_a_w"]] *= 3.0
    return b


def test_imbalance_above_the_threshold_gets_moves(quick_registry) -> None:
    # The simulated feeder is stiff: even three times phase a's load gives a VUF of about
    # 0.3-0.5 %, so the threshold is lowered to 0.25 % to see the model act.
    model = served("load_balancing", quick_registry, vuf_action_pct=0.25)
    rows = readings("kerber_dorfnetz", "-TR", every=41, n=6)
    out = model.predict(with_register(imbalanced(rows), model.name))
    acted = [o for o in out if o.moves]
    assert acted, [o.vuf_before_pct for o in out]
    for o in acted:
        assert o.vuf_before_pct >= 0.25 and o.expected_vuf_pct < o.vuf_before_pct
        assert o.info.severity == pb.ADVISORY and "within the EN 50160 limit" in o.info.detail
    # Without switchable phases in the register the same state is "no action".
    out = model.predict(with_register(imbalanced(rows), model.name, NOTHING))
    assert all(not o.moves and o.info.severity == pb.NORMAL for o in out)
    assert any("no switchable phases" in o.info.detail for o in out)


def test_rephasing_severity_follows_the_en50160_limit() -> None:
    from gridtwin.models.load_balancing import severity_of

    assert severity_of(1.2) == pb.ADVISORY and severity_of(2.0) == pb.ADVISORY
    assert severity_of(2.4) == pb.WARNING


# ---- power_flow_optimization --------------------------------------------------------------
def transformer_rows():
    ids, x = netopt_rows.rows()
    keep = [i for i, m in enumerate(ids) if m.endswith("-TR")]
    assert len(keep) >= 3  # every check below runs on real transformer states
    return [ids[i] for i in keep], x[keep]


def test_cents_an_hour_tap_change_is_normal_no_action(quick_registry) -> None:
    model = served("power_flow_optimization", quick_registry)  # 0.30 /kWh, 1 /h threshold
    ids, x = transformer_rows()
    out = model.predict(with_register(netopt_rows.batch(ids, x), model.name))
    for o in out:
        assert o.info.severity == pb.NORMAL and "no action" in o.info.detail, o.info.detail
        assert "below the 1/h materiality threshold" in o.info.detail
        cfg = o.optimal_configuration
        assert cfg.tap_position == 0 and not any(cfg.capacitor_steps) and o.cost_savings == 0
        assert o.loss_after_w == o.loss_before_w
    # what the best setting would have saved: cents an hour on this feeder
    acting = served("power_flow_optimization", quick_registry, min_savings_eur_per_h=0)
    worth = acting.predict(with_register(netopt_rows.batch(ids, x), acting.name))
    assert all(0 <= o.cost_savings < 1.0 for o in worth)
    changed = [
        o
        for o in worth
        if o.optimal_configuration.tap_position or any(o.optimal_configuration.capacitor_steps)
    ]
    assert changed and all(o.info.severity in (pb.ADVISORY, pb.WARNING) for o in changed)


def test_power_flow_recommends_only_registered_equipment(quick_registry) -> None:
    acting = served("power_flow_optimization", quick_registry, min_savings_eur_per_h=0)
    ids, x = transformer_rows()
    out = acting.predict(with_register(netopt_rows.batch(ids, x), acting.name, NOTHING))
    for o in out:
        assert o.info.severity == pb.NORMAL and "no tap changer or capacitor banks" in o.info.detail
        assert o.optimal_configuration.tap_position == 0 and not any(o.optimal_configuration.capacitor_steps)
    banks_only = {m: Equipment(capacitor_kvar=40.0) for m in ids}
    full = acting.predict(with_register(netopt_rows.batch(ids, x), acting.name))
    out = acting.predict(with_register(netopt_rows.batch(ids, x), acting.name, banks_only))
    for best, o in zip(full, out, strict=True):
        assert o.optimal_configuration.tap_position == 0
        if best.optimal_configuration.tap_position != 0:
            assert o.info.status == pb.DEGRADED and "needs a tap changer" in o.info.detail
        else:
            assert o.optimal_configuration == best.optimal_configuration


# ---- reactive_power ---------------------------------------------------------------------------
def with_pf(x: np.ndarray, pf: float) -> np.ndarray:
    """Rows importing their |P| with reactive powers that make a lagging PF of `pf`."""
    x = x.copy()
    tan = np.tan(np.arccos(pf))
    for phase in "abc":
        x[:, COL[f"active_power_{phase}_w"]] = np.abs(x[:, COL[f"active_power_{phase}_w"]])
        x[:, COL[f"reactive_power_{phase}_var"]] = x[:, COL[f"active_power_{phase}_w"]] * tan
    x[:, COL["active_power_total_w"]] = x[:, [COL[f"active_power_{p}_w"] for p in "abc"]].sum(axis=1)
    x[:, COL["reactive_power_total_var"]] = x[:, COL["active_power_total_w"]] * tan
    return x


def test_pf_inside_the_band_needs_no_switching(quick_registry) -> None:
    model = served("reactive_power", quick_registry)  # target 0.95, band 0.02
    ids, x = transformer_rows()
    out = model.predict(with_register(netopt_rows.batch(ids, with_pf(x, 0.94)), model.name))
    for o in out:
        assert o.power_factor == pytest.approx(0.94, abs=1e-6)
        assert (
            o.info.severity == pb.NORMAL and "no action" in o.info.detail and "within 0.02" in o.info.detail
        )
        assert o.recommended_compensation_kvar == 0 and not any(s.steps for s in o.capacitor_switching_plan)
        assert o.required_compensation_kvar > 0  # the exact Qc to the target is still reported


def test_low_pf_switches_registered_banks_only(quick_registry) -> None:
    model = served("reactive_power", quick_registry)
    ids, x = transformer_rows()
    low = with_pf(x, 0.8)
    out = model.predict(with_register(netopt_rows.batch(ids, low), model.name))
    assert any(o.recommended_compensation_kvar > 0 for o in out)
    for o in out:
        assert o.info.severity == pb.ADVISORY and o.recommended_compensation_kvar <= 40 + 1e-9
    capped = model.predict(
        with_register(
            netopt_rows.batch(ids, low), model.name, {m: Equipment(capacitor_kvar=5.0) for m in ids}
        )
    )
    assert all(o.recommended_compensation_kvar <= 5.0 + 1e-9 for o in capped)
    none = model.predict(with_register(netopt_rows.batch(ids, low), model.name, NOTHING))
    for o in none:
        assert o.recommended_compensation_kvar == 0 and "no capacitor banks" in o.info.detail
        assert o.info.severity == pb.ADVISORY  # PF 0.8 < 0.9: compensation would have to be installed


def test_simulated_register_lists_the_modelled_equipment() -> None:
    tr, head, customer = simulated("dorf-TR"), simulated("dorf-F1"), simulated("dorf-C002")
    assert tr.has_battery and tr.has_genset and tr.tap_steps == 2 and tr.capacitor_kvar == 40.0
    assert head.switchable_phases and not head.has_battery and head.capacitor_kvar == 40.0
    assert customer == Equipment()
