"""Power-flow physics: agreement with pandapower runpp_3ph, |S| = V·I, energy balance."""

import copy
import warnings

import numpy as np
import pandapower as pp
import pytest

from gridsim.loads import node_injections
from gridsim.network import PHASES
from gridsim.powerflow import losses, node_currents, solve, solve_timeseries
from gridsim.simulate import meter_quantities


def _random_loads(fd, seed=1, pv=0.0):
    rng = np.random.default_rng(seed)
    n = len(fd.customers)
    p = rng.uniform(1e3, 5e3, n) - pv
    return (p + 1j * np.abs(p) * 0.25)[:, None]


@pytest.mark.parametrize("which", ["feeder", "feeder_us"])
def test_matches_pandapower_runpp_3ph(which, request):
    fd = request.getfixturevalue(which)
    net = copy.deepcopy(fd.net)
    s_c = _random_loads(fd)[:, 0]
    s_c[:4] = -4e3  # PV export at some customers
    net.load.drop(net.load.index, inplace=True)
    net.asymmetric_load.drop(net.asymmetric_load.index, inplace=True)
    for k, row in fd.customers.iterrows():
        kw = {f"p_{x}_mw": 0.0 for x in PHASES} | {f"q_{x}_mvar": 0.0 for x in PHASES}
        kw[f"p_{row.phase}_mw"] = s_c[k].real / 1e6
        kw[f"q_{row.phase}_mvar"] = s_c[k].imag / 1e6
        pp.create_asymmetric_load(net, row.bus, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.runpp_3ph(net, numba=False)
    v = solve(fd, node_injections(fd, s_c[:, None]), 1.0)[:, :, 0]
    ref = net.res_bus_3ph.loc[fd.node_bus, ["vm_a_pu", "vm_b_pu", "vm_c_pu"]].to_numpy()
    assert np.abs(np.abs(v) / fd.un - ref).max() < 3e-3  # within 0.3 % of runpp_3ph


def test_apparent_power_equals_v_times_i(feeder):
    s_c = np.repeat(_random_loads(feeder), 4, axis=1)
    s = node_injections(feeder, s_c)
    v = solve(feeder, s, 1.02)
    sup = np.ones((feeder.n_nodes, 3), bool)[..., None]
    V, Im, P, Q, _ = meter_quantities(feeder, v, s, s_c, sup)
    assert np.allclose(np.hypot(P, Q), V * Im, rtol=1e-9, atol=1e-6)


def test_head_power_equals_loads_plus_losses(feeder):
    s_c = _random_loads(feeder, pv=2e3)
    s = node_injections(feeder, s_c)
    v = solve(feeder, s, 1.02)
    i = node_currents(s, v)
    p_head = (v[0] * np.conj(i.sum(axis=0))).real.sum()
    loss = losses(feeder, i, v[0])
    assert p_head == pytest.approx(s.real.sum() + loss["line_w"].sum(), rel=1e-6)
    # transformer load loss = R_k Σ|I|², core loss ≈ P_fe at 1 pu
    assert loss["trafo_load_w"][0] > 0
    assert loss["trafo_core_w"][0] == pytest.approx(feeder.trafo["pfe_w"], rel=0.05)


def test_voltage_falls_under_load_and_rises_with_pv(feeder):
    far = int(np.argmax(np.abs(feeder.z1.diagonal())))
    load = node_injections(feeder, np.full((len(feeder.customers), 1), 4e3 + 1e3j))
    pv = node_injections(feeder, np.full((len(feeder.customers), 1), -4e3 + 0j))
    v_load = np.abs(solve(feeder, load, 1.0)[:, :, 0]).mean(axis=1)
    v_pv = np.abs(solve(feeder, pv, 1.0)[:, :, 0]).mean(axis=1)
    assert v_load[far] < v_load[0] < feeder.un
    assert v_pv[far] > v_pv[0] > feeder.un


def test_fine_step_superposition_close_to_full_solution(feeder):
    rng = np.random.default_rng(0)
    t = 60
    s_c = rng.uniform(0, 6e3, (len(feeder.customers), t)) * (1 + 0.3j)
    s = node_injections(feeder, s_c)
    e = np.full(t, 1.02)
    v_fast = solve_timeseries(feeder, s, e, steps_per_pf=15)
    v_full = solve(feeder, s, e)
    assert np.abs(v_fast - v_full).max() / feeder.un < 2e-3


def test_120v_60hz_feeder_is_per_unit_equivalent(feeder_us):
    s_c = _random_loads(feeder_us) * (1 + 0 * 1j)
    v = solve(feeder_us, node_injections(feeder_us, s_c), 1.0)
    vpu = np.abs(v) / 120.0
    assert 0.9 < vpu.min() <= vpu.max() <= 1.01
    assert (feeder_us.meters.nominal_voltage == 120.0).all()
    assert (feeder_us.meters.nominal_frequency == 60.0).all()
    assert feeder_us.net.f_hz == 60.0
