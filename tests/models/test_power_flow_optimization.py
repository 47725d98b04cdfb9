"""3.3 power_flow_optimization: registered quality and served outputs."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.models.power_flow_optimization import Model
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModelConfig
from gridtwin.v1 import assessment_pb2
from tests.models.netopt_rows import assert_batch_equals_single, batch, rows
from tests.models.register import with_register


def test_manifest_gap_small_and_beats_do_nothing(quick_registry) -> None:
    m = load_entry("power_flow_optimization", quick_registry).manifest["metrics"]
    gap = m["loss_gap_to_exhaustive_mean"]
    assert gap["value"] < gap["baseline"]
    assert gap["value"] <= 0.01
    assert m["loss_gap_to_exhaustive_other_feeder_mean"]["value"] <= 0.02


def test_served_outputs(quick_registry) -> None:
    model = Model(load_entry("power_flow_optimization", quick_registry), ModelConfig(tariff_per_kwh=0.5))
    ids, x = rows()
    out = model.predict(with_register(batch(ids, x), model.name))
    for mid, o in zip(ids, out, strict=True):
        assert isinstance(o, assessment_pb2.PowerFlowOptimization)
        if "-C" in mid:
            assert o.info.status == assessment_pb2.DEGRADED and np.isnan(o.loss_before_w)
            continue
        cfg = o.optimal_configuration
        assert -2 <= cfg.tap_position <= 2
        assert len(cfg.capacitor_steps) == 3 and all(0 <= s <= 4 for s in cfg.capacitor_steps)
        assert o.loss_before_w > 0 and 0 < o.loss_after_w <= o.loss_before_w
        assert o.efficiency_gain_pct == pytest.approx((1 - o.loss_after_w / o.loss_before_w) * 100, abs=1e-6)
        assert o.cost_savings == pytest.approx((o.loss_before_w - o.loss_after_w) / 1e3 * 0.5, rel=1e-6)
        expected = assessment_pb2.OK if mid.endswith("-TR") else assessment_pb2.DEGRADED
        if "outside the solved range" not in o.info.detail:
            assert o.info.status == expected
    assert_batch_equals_single(model, ids, x)


def test_zero_rows_do_not_raise(quick_registry) -> None:
    from gridtwin.features.schema import FEATURE_NAMES

    model = Model(load_entry("power_flow_optimization", quick_registry))
    out = model.predict(batch(["warmup-0", "warmup-1"], np.zeros((2, len(FEATURE_NAMES)))))
    assert len(out) == 2
