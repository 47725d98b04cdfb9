"""4.1 reactive_power: registered quality and served outputs (analytic Qc checked exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.models.reactive_power import Model
from gridtwin.physics.power import compensation_var
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModelConfig
from gridtwin.v1 import assessment_pb2
from tests.models.netopt_rows import assert_batch_equals_single, batch, rows
from tests.models.register import with_register


def test_manifest_beats_analytic_rule(quick_registry) -> None:
    m = load_entry("reactive_power", quick_registry).manifest["metrics"]
    gap = m["loss_gap_to_optimum_mean"]
    assert gap["value"] < gap["baseline"]
    assert gap["value"] <= 0.01
    kv = m["kvar_error_pct_of_optimum"]
    assert kv["value"] < kv["baseline"]  # goal 5 % reported in the manifest


def test_onnx_mlp_matches_sklearn_on_held_out_rows(tmp_path) -> None:
    """The served graph (skl2onnx, float32, three bank outputs) equals scikit-learn's predict
    within 1e-4 bank steps on rows the network never saw; training recorded the same check."""
    from training.models.reactive_power import PARITY_TOL, export_mlp, make_mlp

    rng = np.random.default_rng(1)
    x = rng.normal(size=(700, 11))
    y = np.column_stack([np.clip(np.rint(2 + x[:, k] + 0.5 * x[:, 3]), 0, 4) for k in range(3)])
    net = make_mlp((32, 16), 1e-1, seed=0).fit(x[:600], y[:600])
    served, gap = export_mlp(net, tmp_path / "mlp.onnx", x[600:])
    onnx_steps = served.run_one(x[600:]).reshape(100, -1)
    assert onnx_steps.shape == (100, 3)
    assert np.abs(onnx_steps - net.predict(x[600:])).max() == pytest.approx(gap)
    assert gap < PARITY_TOL == 1e-4


def test_manifest_records_onnx_parity(quick_registry) -> None:
    parity = load_entry("reactive_power", quick_registry).manifest["onnx_parity"]
    assert parity["rows"] > 0 and 0 <= parity["max_abs"] < parity["tolerance"] == 1e-4


def test_served_outputs(quick_registry) -> None:
    from gridtwin.features.schema import FEATURE_NAMES

    model = Model(load_entry("reactive_power", quick_registry))
    ids, x = rows()
    out = model.predict(with_register(batch(ids, x), model.name))
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}
    for j, (mid, o) in enumerate(zip(ids, out, strict=True)):
        assert isinstance(o, assessment_pb2.ReactivePower)
        p, q = x[j, col["active_power_total_w"]], x[j, col["reactive_power_total_var"]]
        assert -1 <= o.power_factor <= 1
        assert o.power_factor == pytest.approx(np.sign(q or 1) * abs(p) / np.hypot(p, q), abs=1e-9)
        if p > 0 and q > 0:
            expected = max(float(compensation_var(p, abs(p) / np.hypot(p, q), 0.95)), 0.0) / 1e3
        else:
            expected = 0.0
        assert o.required_compensation_kvar == pytest.approx(expected, abs=1e-9)
        if "-C" in mid:
            assert o.info.status == assessment_pb2.DEGRADED and np.isnan(o.recommended_compensation_kvar)
            continue
        plan = o.capacitor_switching_plan
        assert len(plan) == 3
        assert o.recommended_compensation_kvar == pytest.approx(sum(s.kvar for s in plan))
        assert all(0 <= s.steps <= 4 for s in plan)
        assert 0 <= o.recommended_compensation_kvar <= 40
        assert -1 <= o.expected_power_factor <= 1
    assert_batch_equals_single(model, ids, x)


def test_target_pf_configurable(quick_registry) -> None:
    model = Model(load_entry("reactive_power", quick_registry), ModelConfig(target_pf=0.99))
    ids, x = rows()
    hi = model.predict(batch(ids, x))
    lo = Model(load_entry("reactive_power", quick_registry), ModelConfig(target_pf=0.9)).predict(
        batch(ids, x)
    )
    assert all(
        a.required_compensation_kvar >= b.required_compensation_kvar for a, b in zip(hi, lo, strict=True)
    )
    assert any(
        a.required_compensation_kvar > b.required_compensation_kvar for a, b in zip(hi, lo, strict=True)
    )
