"""3.2 energy_loss: registered quality and served outputs."""

from __future__ import annotations

import numpy as np

from gridsim.network import build_feeder
from gridtwin.models.energy_loss import Model
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from tests.models.netopt_rows import assert_batch_equals_single, batch, rows


def test_manifest_beats_baseline_and_floor(quick_registry) -> None:
    m = load_entry("energy_loss", quick_registry).manifest["metrics"]
    r2 = m["r2_line_loss"]
    assert r2["value"] > r2["baseline"]
    assert r2["value"] >= 0.8  # floor (goal 0.95 reported in the manifest)
    assert m["r2_line_loss_other_feeder"]["value"] >= 0.8


def test_served_outputs(quick_registry) -> None:
    model = Model(load_entry("energy_loss", quick_registry))
    ids, x = rows()
    out = model.predict(batch(ids, x))
    assert len(out) == len(ids)
    pfe_w = build_feeder("kerber_dorfnetz").trafo["pfe_w"]  # the rows' feeder (netopt_rows)
    assert pfe_w > 0
    for mid, o in zip(ids, out, strict=True):
        assert isinstance(o, assessment_pb2.EnergyLoss)
        if "-C" in mid:
            assert o.info.status == assessment_pb2.DEGRADED and np.isnan(o.loss_w)
            continue
        assert o.info.status == assessment_pb2.OK
        assert o.info.severity in (assessment_pb2.NORMAL, assessment_pb2.WARNING, assessment_pb2.CRITICAL)
        assert 0 < o.loss_w < 50e3
        c = o.loss_category
        assert c.resistive_w >= 0 and c.reactive_w >= 0 and c.core_w >= 0
        assert abs(c.resistive_w + c.reactive_w + c.core_w - o.loss_w) < 1e-6 * max(o.loss_w, 1)
        if mid.endswith("-TR"):
            # No-load loss P_fe at Un from the simulated feeder's transformer, scaled by (V/Un)²
            # within the EN 50160 supply-voltage band of Un ± 10 %.
            assert (0.9**2) * pfe_w < c.core_w < (1.1**2) * pfe_w, (c.core_w, pfe_w)
        else:
            assert c.core_w == 0
        assert np.isnan(o.loss_pct) or 0 <= o.loss_pct < 100
    assert_batch_equals_single(model, ids, x)


def test_unknown_meter_and_zero_rows(quick_registry) -> None:
    model = Model(load_entry("energy_loss", quick_registry))
    out = model.predict(batch(["warmup-0", "somewhere-else"], np.zeros((2, x_width()))))
    for o in out:
        assert o.info.status == assessment_pb2.OK
        assert "not in the catalogue" in o.info.detail
        assert np.isfinite(o.loss_w)


def x_width() -> int:
    from gridtwin.features.schema import FEATURE_NAMES

    return len(FEATURE_NAMES)
