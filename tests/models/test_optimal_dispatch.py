"""4.4 optimal dispatch: registered quality, LP vs surrogate switching, output contract."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from tests.models.register import with_register
from tests.models.simulator_batches import batch, readings, sub


@pytest.fixture(scope="module")
def rows():
    return readings("ieee_european_lv", "-TR", every=53, n=10)


def test_manifest_surrogate_gap_and_savings(quick_registry) -> None:
    m = load_entry("optimal_dispatch", quick_registry).manifest
    gap = m["metrics"]["cost_gap"]
    assert gap["value"] < gap["baseline"], "surrogate must beat leaving battery and genset idle"
    assert gap["value"] < 0.05
    assert m["metrics"]["lp_savings_vs_no_optimisation"]["value"] > 0.0


def _model(quick_registry, monkeypatch, budget: str):
    from gridtwin.models.optimal_dispatch import Model
    from gridtwin.serving.model import ModelConfig

    return Model(
        load_entry("optimal_dispatch", quick_registry), ModelConfig(dispatch_lp_budget_ms=float(budget))
    )


def test_surrogate_outputs_contract_and_vectorised(quick_registry, monkeypatch, rows) -> None:
    model = _model(quick_registry, monkeypatch, "0")  # no LP time: always the surrogate
    b = with_register(batch(rows), model.name)
    out = model.predict(b)
    assert len(out) == len(rows)
    p = model.params
    for o in out:
        assert isinstance(o, assessment_pb2.OptimalDispatch)
        assert o.info.status == assessment_pb2.OK and o.solver == "svr_surrogate"
        d = o.dispatch_recommendation
        assert -p.battery_kw - 1e-6 <= d.battery_kw <= p.battery_kw + 1e-6
        assert 0 <= d.genset_kw <= p.genset_kw + 1e-6 and d.pv_curtailment_kw >= -1e-9
        assert np.isfinite(o.expected_cost) and np.isfinite(o.cost_savings)
        assert "SoC not reported" in o.info.detail
    for i in range(len(rows)):
        one = model.predict(sub(b, i))[0]
        assert one.solver == out[i].solver and one.info.detail == out[i].info.detail
        for f in ("grid_import_kw", "battery_kw", "genset_kw", "pv_curtailment_kw"):
            assert getattr(one.dispatch_recommendation, f) == pytest.approx(
                getattr(out[i].dispatch_recommendation, f), rel=1e-9, abs=1e-9
            )
        assert one.expected_cost == pytest.approx(out[i].expected_cost, rel=1e-9)


def test_lp_answer_when_budget_allows(quick_registry, monkeypatch, rows) -> None:
    model = _model(quick_registry, monkeypatch, "10000")
    b = with_register(batch(rows.head(3)), model.name)
    b.context["optimal_dispatch"]["soc"] = [0.8, None, 0.2]
    out = model.predict(b)
    assert [o.solver for o in out] == ["lp"] * 3
    assert "SoC not reported" not in out[0].info.detail and "SoC not reported" in out[1].info.detail
    # the LP optimum never costs more than doing nothing
    assert all(o.cost_savings >= -1e-6 for o in out)
    # the surrogate's cost estimate is in the LP's neighbourhood on the same states
    sur = _model(quick_registry, monkeypatch, "0").predict(b)
    scale = max(abs(o.expected_cost) for o in out) + 1.0
    assert all(abs(s.expected_cost - o.expected_cost) < 0.5 * scale for s, o in zip(sur, out, strict=True))


def test_warm_batch_zero_rows(quick_registry, monkeypatch) -> None:
    from gridtwin.serving.module import ModuleServicer

    model = _model(quick_registry, monkeypatch, "2")
    servicer = ModuleServicer.__new__(ModuleServicer)

    servicer.feature_names, servicer.schema_version = FEATURE_NAMES, SCHEMA_VERSION
    model.warm(servicer.warm_batch())
