"""IEEE 1159 bands and sag signatures by cause."""

import numpy as np
import pytest

from gridsim import events as ev
from gridsim.loads import node_injections
from gridsim.powerflow import solve


@pytest.fixture(scope="module")
def v_pre(feeder):
    s = node_injections(feeder, np.full((len(feeder.customers), 1), 1.5e3 + 0.4e3j))
    return solve(feeder, s, 1.02)[:, :, 0]


def _min_pu(e, node, un):
    return np.abs(ev.node_trajectory(e)[:, node]).min(axis=0) / un


def test_classify_hand_vectors():
    f0 = 50.0
    assert ev.classify_ieee1159(0.5, 1.0, 0.1, 0, f0) == "instantaneous_sag"
    assert ev.classify_ieee1159(0.5, 1.0, 2.0, 0, f0) == "momentary_sag"
    assert ev.classify_ieee1159(0.5, 1.0, 10.0, 0, f0) == "temporary_sag"
    assert ev.classify_ieee1159(0.85, 1.0, 120.0, 0, f0) == "undervoltage"
    assert ev.classify_ieee1159(0.05, 1.0, 1.0, 0, f0) == "momentary_interruption"
    assert ev.classify_ieee1159(0.0, 1.0, 600.0, 0, f0) == "sustained_interruption"
    assert ev.classify_ieee1159(1.0, 1.3, 0, 0.2, f0) == "instantaneous_swell"
    assert ev.classify_ieee1159(0.95, 1.05, 0, 0, f0) == "none"


def test_fault_is_deep_short_and_phase_selective(feeder, v_pre):
    rng = np.random.default_rng(3)
    f0 = feeder.settings.nominal_frequency
    for _ in range(20):
        e = ev.make_event(feeder, "fault", v_pre, rng)
        m = _min_pu(e, e.node, feeder.un)
        assert len(e.phases) in (1, 2)
        assert m.min() < 0.9  # deep at the fault location
        assert 3 / f0 - 1e-9 <= e.duration_s <= 30 / f0 + 1e-9  # fuse clearing 3-30 cycles
        healthy = [k for k in range(3) if "abc"[k] not in e.phases]
        assert all(m[k] > 0.9 for k in healthy)
        cat = ev.classify_ieee1159(m.min(), 1.0, e.duration_s, 0, f0)
        assert cat in ("instantaneous_sag", "momentary_interruption")


def test_motor_start_shallow_balanced_reactive_slow(feeder, v_pre):
    rng = np.random.default_rng(4)
    for _ in range(10):
        e = ev.make_event(feeder, "motor_start", v_pre, rng)
        m = _min_pu(e, e.node, feeder.un)
        assert m.min() > 0.78 and m.max() < 0.96  # 0.8-0.95 pu
        drop = np.abs(e.v_pre[e.node]) / feeder.un - m
        assert drop.std() / drop.mean() < 0.15  # balanced voltage change
        pf = np.cos(np.angle(e.v_pre[e.node] / np.conj(np.conj(e.i_event))))
        assert np.all(np.abs(pf) < 0.4)  # large reactive current
        assert e.duration_s > 1.0  # gradual recovery over seconds
        assert e.envelope[-1] < e.envelope[0]


def test_transformer_energising_unbalanced_even_harmonics(feeder, v_pre):
    rng = np.random.default_rng(5)
    for _ in range(10):
        e = ev.make_event(feeder, "transformer_energising", v_pre, rng)
        m = _min_pu(e, 0, feeder.un)
        assert m.max() - m.min() > 0.005  # unbalanced
        assert e.even_harmonic_pu.max() > 0.005
        assert e.duration_s > 0.5


def test_reclose_is_momentary_interruption(feeder, v_pre):
    rng = np.random.default_rng(6)
    e = ev.make_event(feeder, "upstream_reclose", v_pre, rng)
    m = _min_pu(e, 1, feeder.un)
    cat = ev.classify_ieee1159(m.min(), 1.0, e.duration_s, 0, 50.0)
    assert cat == "momentary_interruption"
