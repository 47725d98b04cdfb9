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
        faulted = [k for k in range(3) if "abc"[k] in e.phases]
        # the faulted phase sags at the fault (a high-impedance fault near the busbar only a little)
        assert m[faulted].min() < 0.95 and m[faulted].min() < np.abs(e.v_pre[e.node]).min() / feeder.un - 0.03
        assert 3 / f0 - 1e-9 <= e.duration_s <= 100 / f0 + 1e-9  # fuse clearing 3-100 cycles
        healthy = [k for k in range(3) if "abc"[k] not in e.phases]
        assert all(m[k] > 0.9 for k in healthy)
        cat = ev.classify_ieee1159(m.min(), 1.0, e.duration_s, 0, f0)
        assert cat in ("instantaneous_sag", "momentary_sag", "momentary_interruption", "none")


def test_motor_start_shallow_balanced_reactive_slow(feeder, v_pre):
    rng = np.random.default_rng(4)
    for _ in range(10):
        e = ev.make_event(feeder, "motor_start", v_pre, rng)
        m = _min_pu(e, e.node, feeder.un)
        assert m.min() > 0.68 and m.max() < 0.96  # 0.70-0.95 pu
        drop = np.abs(e.v_pre[e.node]) / feeder.un - m
        assert drop.std() / drop.mean() < 0.15  # balanced voltage change
        pf = np.cos(np.angle(e.v_pre[e.node] / np.conj(np.conj(e.i_event))))
        assert np.all(np.abs(pf) < 0.4)  # large reactive current
        assert e.duration_s > 0.8  # gradual recovery: 0.2 s + τ·ln 10, τ ≥ 0.3 s
        assert e.envelope[-1] < e.envelope[0]


def test_transformer_energising_unbalanced_even_harmonics(feeder, v_pre):
    rng = np.random.default_rng(5)
    for _ in range(10):
        e = ev.make_event(feeder, "transformer_energising", v_pre, rng)
        m = _min_pu(e, 0, feeder.un)
        assert m.max() - m.min() > 0.005  # unbalanced
        assert e.even_harmonic_pu.max() > 0.005
        assert e.duration_s > 0.2  # τ·ln 10, τ ≥ 0.1 s


def test_reclose_is_momentary_interruption_or_deep_sag(feeder, v_pre):
    rng = np.random.default_rng(6)
    e = ev.make_event(feeder, "upstream_reclose", v_pre, rng)
    m = _min_pu(e, 1, feeder.un)
    cat = ev.classify_ieee1159(m.min(), 1.0, e.duration_s, 0, 50.0)
    # residual 0-0.3 pu (back-feed): an interruption below 0.1 pu, else a deep sag
    assert cat == ("momentary_interruption" if m.min() < 0.1 else "momentary_sag") or (
        m.min() >= 0.1 and cat == "instantaneous_sag"
    )


def _depth_duration(feeder, v_pre, cause, n, seed):
    rng = np.random.default_rng(seed)
    depth, dur = [], []
    for _ in range(n):
        e = ev.make_event(feeder, cause, v_pre, rng)
        depth.append(float(np.abs(ev.node_trajectory(e)).min() / feeder.un))
        dur.append(e.duration_s)
    return np.array(depth), np.array(dur)


def _overlap(a, b):
    lo = max(np.percentile(a, 5), np.percentile(b, 5))
    hi = min(np.percentile(a, 95), np.percentile(b, 95))
    return hi - lo


def test_cause_depth_and_duration_ranges_overlap(feeder, v_pre):
    """Depth and duration alone do not separate the causes (the central 90 % overlap)."""
    d = {c: _depth_duration(feeder, v_pre, c, 60, k) for k, c in enumerate(ev.CAUSES)}
    # depth: a high-impedance fault is as shallow as motor starts and energising sags
    assert _overlap(d["fault"][0], d["motor_start"][0]) > 0.05
    assert _overlap(d["motor_start"][0], d["transformer_energising"][0]) > 0.05
    assert _overlap(d["fault"][0], d["upstream_reclose"][0]) > 0.0
    # duration: a slow fuse lasts as long as an inrush decay or a reclose dead time
    assert _overlap(d["fault"][1], d["transformer_energising"][1]) > 0.1
    assert _overlap(d["motor_start"][1], d["transformer_energising"][1]) > 0.3
    assert _overlap(d["upstream_reclose"][1], d["motor_start"][1]) > 0.3
    assert _overlap(d["fault"][1], d["upstream_reclose"][1]) > 0.1
