"""gridtwin.netopt: power flow against the simulator's, state matching, the optimiser against brute force
and against the HiGHS MILP of the same linear model, the voltage margin."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from gridtwin.netopt.network import NetworkModel, build_network_model
from gridtwin.netopt.policy import PolicyTable
from gridtwin.netopt.powerflow import evaluate_configs, exhaustive_optimum, solve
from gridtwin.netopt.state import equivalent_state


@lru_cache(maxsize=2)
def _feeder(name: str):
    from gridsim.network import build_feeder

    return build_feeder(name)


@lru_cache(maxsize=2)
def _model(name: str) -> NetworkModel:
    return build_network_model(_feeder(name))


@pytest.mark.parametrize("name", ["kerber_dorfnetz", "ieee_european_lv"])
def test_powerflow_and_losses_match_simulator(name: str) -> None:
    from gridsim import powerflow as gpf

    feeder, model = _feeder(name), _model(name)
    rng = np.random.default_rng(0)
    s = model.weights[:, :, None] * (rng.uniform(5e3, 40e3, (1, 3, 3)) * (1 + 0.3j))
    v_ref = gpf.solve(feeder, s, 1.02)
    res = solve(model, s, 1.02)
    assert np.abs(res.v - v_ref).max() < 1e-3  # V (tolerance of the fixed point)
    ref = gpf.losses(feeder, gpf.node_currents(s, v_ref), v_ref[0])
    np.testing.assert_allclose(res.line_w, ref["line_w"].sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(res.trafo_load_w, ref["trafo_load_w"], rtol=1e-5)
    np.testing.assert_allclose(res.core_w, ref["trafo_core_w"], rtol=1e-6)


def test_capacitor_bank_delivers_rated_kvar_at_nominal_voltage() -> None:
    model = _model("kerber_dorfnetz")
    s = np.zeros((model.n_nodes, 3, 1), complex)
    steps = np.array([[model.bank_steps[0], 0, 0]])
    res = solve(model, s, 1.0, model.bank_susceptance(steps).T)
    q = res.head_power().imag.sum()
    v = np.abs(res.v[0]).mean() / model.un
    expected = -model.bank_steps[0] * model.bank_q_step[0] * v**2  # generating vars, load convention
    assert q == pytest.approx(expected, rel=1e-3)


def test_save_load_roundtrip(tmp_path) -> None:
    model = _model("kerber_dorfnetz")
    back = NetworkModel.load(model.save(tmp_path / "m.npz"))
    assert back.name == model.name and back.tap_hv_side == model.tap_hv_side
    np.testing.assert_array_equal(back.z1, model.z1)
    np.testing.assert_array_equal(back.bank_names, model.bank_names)


def test_tap_direction_hv_side() -> None:
    model = _model("kerber_dorfnetz")
    assert model.tap_hv_side
    assert model.tap_factor(1) < 1.0 < model.tap_factor(-1)


def test_equivalent_state_reproduces_measurement() -> None:
    model = _model("kerber_dorfnetz")
    p = np.array([[12e3, 20e3, 8e3], [-15e3, 5e3, 2e3]])
    q = np.array([[3e3, 5e3, 2e3], [1e3, 1e3, 1e3]])
    v = np.array([1.01, 1.04])
    _, _, flow = equivalent_state(model, p, q, v)
    head = flow.head_power().T
    np.testing.assert_allclose(head.real, p, atol=5.0)
    np.testing.assert_allclose(head.imag, q, atol=5.0)
    np.testing.assert_allclose(np.abs(flow.v[0]).mean(axis=0) / model.un, v, atol=1e-5)


@pytest.mark.parametrize("name", ["kerber_dorfnetz", "ieee_european_lv"])
def test_optimiser_within_one_percent_of_brute_force(name: str) -> None:
    from gridtwin.netopt.enumeration import optimise

    model = _model(name)
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 30e3, (3, 3))
    q = p * 0.3
    s, e, _ = equivalent_state(model, p, q, np.array([1.0, 1.03, 1.06]))
    brute = exhaustive_optimum(model, s, e)
    for j in range(3):
        sol = optimise(model, s[:, :, j], float(e[j]))
        loss, vmin, vmax = evaluate_configs(
            model, s[:, :, j], float(e[j]), np.array([sol.tap]), sol.steps[None]
        )
        assert loss[0] <= brute["loss_w"][j] * 1.01
        assert loss[0] >= brute["loss_w"][j] * (1 - 1e-6)  # brute force is the optimum (PF tolerance)
        if brute["feasible"][j]:
            assert vmin[0] >= model.vmin_pu - 1e-3 and vmax[0] <= model.vmax_pu + 1e-3


@pytest.mark.parametrize("name", ["kerber_dorfnetz", "ieee_european_lv"])
def test_enumeration_reaches_the_milp_objective(name: str) -> None:
    """Random states (import and export, low and high busbar) and random margins, some so wide
    that no setting fits the band (the violation penalty decides): the enumeration's objective
    equals the HiGHS MILP's on the same linear model, and is never worse."""
    from gridtwin.netopt.enumeration import solve_enumerated
    from gridtwin.netopt.linear import VoltageBand, linearise
    from gridtwin.netopt.lp import solve_milp

    model = _model(name)
    rng = np.random.default_rng(11)
    n = 8
    p = rng.uniform(-60e3, 80e3, (n, 3))
    q = p * rng.uniform(-0.1, 0.4, (n, 1))
    s, e, _ = equivalent_state(model, p, q, rng.uniform(0.92, 1.08, n))
    penalised = 0
    for j in range(n):
        band = VoltageBand.of(model, *rng.uniform(0.0, 0.09, 2))
        lin = linearise(model, s[:, :, j], float(e[j]))
        enum, milp = solve_enumerated(lin, band), solve_milp(lin, band)
        assert milp.status == 0
        assert enum.objective_w <= milp.objective_w + 1e-6 * abs(milp.objective_w)
        assert enum.objective_w == pytest.approx(milp.objective_w, rel=1e-4)  # HiGHS' MIP gap
        penalised += enum.violation_pu > 0
    assert 0 < penalised < n  # both regimes were exercised


def test_enumeration_keeps_the_band_it_is_given() -> None:
    from gridtwin.netopt.enumeration import bank_levels, predicted_extremes, solve_enumerated
    from gridtwin.netopt.linear import VoltageBand, linearise

    model = _model("kerber_dorfnetz")
    s, e, _ = equivalent_state(model, np.full((1, 3), -20e3), np.full((1, 3), 2e3), np.array([1.04]))
    lin = linearise(model, s[:, :, 0], float(e[0]))
    lo, hi = predicted_extremes(lin)
    t_of = {int(t): i for i, t in enumerate(lin.taps)}
    levels = bank_levels(lin)
    for margin in (0.0, 0.02, 0.04):
        band = VoltageBand.of(model, margin, margin)
        sol = solve_enumerated(lin, band)
        c = int(np.flatnonzero((levels == sol.steps).all(axis=1))[0])
        inside = (lo >= band.vmin_pu) & (hi <= band.vmax_pu)
        if inside.any():
            assert sol.violation_pu == 0
            assert band.vmin_pu <= lo[t_of[sol.tap], c] and hi[t_of[sol.tap], c] <= band.vmax_pu


def test_voltage_margin_grows_with_the_allocation_error() -> None:
    """True states equal to the allocated state of a grid point: only the linearisation errs
    (a small margin). The same loads all moved to the far end of one phase: a larger margin."""
    from training.netopt.dataset import States
    from training.netopt.margin import voltage_margin

    model = _model("kerber_dorfnetz")
    axes = (np.array([-30e3, 0.0, 30e3, 60e3]), np.array([0.0, 10e3]), np.array([1.0, 1.04]))
    p_tot = np.array([-30e3, 60e3, 30e3])
    v = np.array([1.04, 1.0, 1.04])
    s, e, _ = equivalent_state(model, np.repeat(p_tot[:, None] / 3, 3, 1), np.full((3, 3), 10e3 / 3), v)
    cols = ["active_power_a_w", "active_power_b_w", "active_power_c_w"]
    feats = pd.DataFrame(np.repeat(p_tot[:, None] / 3, 3, 1), columns=cols)
    for ph in "abc":
        feats[f"reactive_power_{ph}_var"] = 10e3 / 3
    feats["voltage_mean_pu"] = v
    idx = np.arange(3)
    exact = voltage_margin(model, States(pd.DatetimeIndex([]), s, e, feats), idx, axes, 1.0)
    assert exact.under_pu < 0.005 and exact.over_pu < 0.005
    far = np.argmax(model.r_common[0].diagonal())
    moved = np.zeros_like(s)
    moved[far, 0] = s.sum(axis=(0, 1))
    skewed = voltage_margin(model, States(pd.DatetimeIndex([]), moved, e, feats), idx, axes, 1.0)
    assert skewed.under_pu > exact.under_pu + 0.01 and skewed.over_pu > exact.over_pu + 0.01


def test_table_verification_matches_the_power_flow_of_each_setting() -> None:
    from gridtwin.netopt.policy import verify

    model = _model("ieee_european_lv")
    s, e, _ = equivalent_state(
        model, np.array([[10e3, 5e3, 8e3], [-9e3, -9e3, 1e3]]), np.full((2, 3), 2e3), np.array([1.0, 1.05])
    )
    tap, steps = np.array([-2, 1]), np.array([[4, 0, 2], [1, 3, 0]])
    before, after, viol = verify(model, s, e, tap, steps)
    for j in range(2):
        loss, vmin, vmax = evaluate_configs(
            model, s[:, :, j], float(e[j]), np.array([0, tap[j]]), np.vstack([np.zeros(3, int), steps[j]])
        )
        np.testing.assert_allclose([before[j], after[j]], loss, rtol=1e-5)
        assert viol[j] == pytest.approx(
            max(model.vmin_pu - vmin[1], 0) + max(vmax[1] - model.vmax_pu, 0), abs=1e-5
        )


def test_exhaustive_respects_voltage_limits() -> None:
    model = _model("ieee_european_lv")
    s, e, _ = equivalent_state(model, np.full((1, 3), 10e3), np.full((1, 3), 3e3), np.array([1.08]))
    brute = exhaustive_optimum(model, s, e)
    k = np.flatnonzero(
        (brute["taps"] == brute["tap"][0]) & (brute["banks"] == brute["steps"][0]).all(axis=1)
    )[0]
    assert brute["all_feasible"][0, k]
    assert brute["loss_w"][0] == pytest.approx(brute["all_loss"][0][brute["all_feasible"][0]].min())


def test_policy_table_interpolation_exact_on_grid_and_linear_between() -> None:
    pa, qa, va = np.array([0.0, 10.0]), np.array([0.0, 1.0]), np.array([1.0, 1.1])
    grid = np.add.outer(np.add.outer(pa, 100 * qa), 1000 * va)  # linear in every axis
    table = PolicyTable(
        pa,
        qa,
        va,
        np.zeros(grid.shape, int),
        np.zeros(grid.shape + (3,), int),
        grid,
        grid,
        np.zeros(grid.shape),
    )
    out = table.lookup(np.array([0.0, 5.0, 20.0]), np.array([1.0, 0.5, 0.0]), np.array([1.1, 1.05, 1.0]))
    np.testing.assert_allclose(out["loss_before"][:2], [100 + 1100, 5 + 50 + 1050])
    assert list(out["outside"]) == [False, False, True]
