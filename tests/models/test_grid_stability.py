"""4.3 grid stability: registered quality and the served ensemble's outputs."""

from __future__ import annotations

import math

import numpy as np

from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from tests.models.simulator_batches import batch, readings, sub


def test_manifest_quality(quick_registry) -> None:
    m = load_entry("grid_stability", quick_registry).manifest
    acc = m["metrics"]["accuracy"]
    assert acc["value"] >= acc["baseline"] - 0.005, "must not be worse than always-stable"
    brier = m["metrics"]["brier"]["value"]
    assert brier < 0.05
    auc = m["metrics"]["roc_auc"]["value"]
    assert math.isnan(auc) or auc > 0.6


def test_served_outputs(quick_registry) -> None:
    from gridtwin.models.grid_stability import Model

    model = Model(load_entry("grid_stability", quick_registry))
    rows = readings("kerber_dorfnetz", "-C", every=211, n=16)
    b = batch(rows)
    out = model.predict(b)
    assert len(out) == len(rows)
    for o in out:
        assert isinstance(o, assessment_pb2.GridStability)
        assert o.info.status == assessment_pb2.OK
        assert 0.0 <= o.stability_score <= 100.0
        assert o.stability_class in ("stable", "marginal", "unstable")
        assert all(f.contribution > 0 for f in o.risk_factors) and len(o.risk_factors) <= 3
    for i in (0, 5, 15):
        assert model.predict(sub(b, i))[0] == out[i]
    # an interrupted supply (all phases ~0 V) must look less stable than the normal reading
    x = b.features[:1].copy()
    names = list(b.feature_names)
    for col in ("voltage_a_pu", "voltage_b_pu", "voltage_c_pu", "voltage_min_pu", "voltage_max_pu"):
        x[0, names.index(col)] = 0.0
    x[0, names.index("ieee1159_interruption_band")] = 1.0
    x[0, names.index("en50160_voltage_within_10pct")] = 0.0
    p_normal, _ = model.probability(b.columns(model.features)[:1])
    b.features = x
    p_out, _ = model.probability(b.columns(model.features)[:1])
    assert p_out[0] >= p_normal[0]
    assert np.isfinite(p_out).all()


def test_upstream_outputs_read_only_when_ok() -> None:
    from gridtwin.decision.stability import upstream_matrix

    ok = assessment_pb2.Assessment()
    ok.overload_risk.info.status = assessment_pb2.OK
    ok.overload_risk.overload_probability = 0.7
    ok.voltage_sag.info.status = assessment_pb2.DEGRADED
    ok.voltage_sag.sag_probability = 0.9  # not trusted: the model was not OK
    m = upstream_matrix(
        [ok, assessment_pb2.Assessment()],
        ["overload_risk.overload_probability", "voltage_sag.sag_probability"],
    )
    assert m[0, 0] == 0.7
    assert np.isnan(m[0, 1]) and np.isnan(m[1]).all()


def test_served_with_upstream_fields(quick_registry) -> None:
    """Whatever upstream outputs the registered model uses, missing ones are imputed, not fatal."""
    from gridtwin.models.grid_stability import Model

    model = Model(load_entry("grid_stability", quick_registry))
    b = batch(readings("kerber_dorfnetz", "-TR", n=2))
    b.upstream[0].overload_risk.info.status = assessment_pb2.OK
    b.upstream[0].overload_risk.overload_probability = 0.2
    b.upstream[0].overload_risk.loading_pct = 45.0
    out = model.predict(b)
    assert all(o.info.status == assessment_pb2.OK and 0 <= o.stability_score <= 100 for o in out)
