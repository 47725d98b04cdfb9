"""4.2 load balancing: registered power-flow verification and the served plan contract."""

from __future__ import annotations

from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from tests.models.register import with_register
from tests.models.simulator_batches import batch, readings, sub


def test_manifest_beats_naive(quick_registry) -> None:
    m = load_entry("load_balancing", quick_registry).manifest
    ratio = m["metrics"]["median_vuf_ratio_after_before"]
    assert ratio["value"] < 1.0, "moves must reduce VUF in the power flow"
    assert ratio["value"] <= ratio["baseline"] + 1e-9, "TOPSIS plan must not be worse than the naive move"
    assert m["metrics"]["mean_moves"]["value"] <= 3


def test_served_plans(quick_registry) -> None:
    from gridtwin.models.load_balancing import Model

    model = Model(load_entry("load_balancing", quick_registry))
    rows = readings("kerber_dorfnetz", "-TR|-F", every=41, n=10)
    b = with_register(batch(rows), model.name)
    out = model.predict(b)
    assert len(out) == len(rows)
    for o, meter in zip(out, rows["meter_id"], strict=True):
        assert isinstance(o, assessment_pb2.LoadBalancing)
        assert o.info.status == assessment_pb2.OK, (meter, o.info.detail)
        assert len(o.moves) <= 3
        assert o.vuf_before_pct >= 0 and o.expected_vuf_pct >= 0
        assert o.expected_vuf_pct <= o.vuf_before_pct + 1e-9
        assert 0.0 <= o.score <= 1.0
        for mv in o.moves:
            assert mv.from_phase in "abc" and mv.to_phase in "abc" and mv.from_phase != mv.to_phase
            assert mv.load_id.startswith("dorf-C")
    for i in range(len(rows)):
        assert model.predict(sub(b, i))[0] == out[i]


def test_other_meters_degraded(quick_registry) -> None:
    from gridtwin.models.load_balancing import Model

    model = Model(load_entry("load_balancing", quick_registry))
    out = model.predict(batch(readings("kerber_dorfnetz", "-C", n=2)))
    assert all(o.info.status == assessment_pb2.DEGRADED and not o.moves for o in out)
