"""2.2 Overload risk: registered metrics and served outputs (ONNX parity: test_onnx_parity.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.models._maintenance.loading import loading_class
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2 as pb
from tests.models._maintenance_rows import assert_same_output, batch_from_frame, single, zero_batch
from training.pipeline import dataset_dir


def test_loading_class_edges() -> None:
    assert loading_class(np.array([0.0, 0.79, 0.8, 0.99, 1.0, 1.7])).tolist() == [
        "normal",
        "normal",
        "high",
        "high",
        "overload",
        "overload",
    ]


def test_training_svr_predict_matches_libsvm() -> None:
    """The training's GEMM kernel predict is SVR.predict's arithmetic (libsvm, row by row)."""
    from sklearn.svm import SVR

    from training.models.overload_risk import svr_predict

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 9))
    svr = SVR(C=0.3, gamma=0.05, epsilon=0.005).fit(x, np.sin(x[:, 0]) + 0.1 * rng.normal(size=600))
    z = rng.normal(size=(5000, 9))
    np.testing.assert_allclose(svr_predict(svr, z, chunk=777), svr.predict(z), rtol=0, atol=1e-10)


@pytest.fixture(scope="module")
def model(quick_registry):
    from gridtwin.models.overload_risk import Model

    return Model(load_entry("overload_risk", quick_registry))


def test_manifest_quality(quick_registry) -> None:
    m = load_entry("overload_risk", quick_registry).manifest["metrics"]
    assert m["accuracy"]["value"] >= 0.90
    # persistence is near-perfect on these data; the SVM must not fall far below it
    assert m["accuracy"]["value"] >= m["accuracy"]["baseline"] - 0.01
    assert m["generalisation_accuracy"]["value"] >= 0.9
    # the SVR starts from persistence: its future loading must beat "the loading now"
    assert m["future_loading_mae_pu"]["value"] < m["future_loading_mae_pu"]["baseline"]


def test_served_outputs(model) -> None:
    df = pd.read_parquet(dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet")
    df = df[
        df.meter_id.isin(
            ["dorf-TR", "dorf-F1", "dorf-C001" if "dorf-C001" in set(df.meter_id) else "dorf-F2"]
        )
    ]
    df = df.groupby("meter_id").head(40)
    batch = batch_from_frame(df)
    out = model.predict(batch)
    assert len(out) == len(batch)
    for o, mid in zip(out, batch.meter_ids, strict=True):
        assert isinstance(o, pb.OverloadRisk)
        if mid in model.ratings:
            assert o.info.status == pb.OK
            assert o.predicted_loading_class in {"normal", "high", "overload"}
            assert 0.0 <= o.overload_probability <= 1.0
            assert 0.0 <= o.loading_pct < 300.0
            assert o.recommended_action
            assert o.time_to_overload_minutes == -1.0 or 0.0 <= o.time_to_overload_minutes <= 60.0
        else:
            assert o.info.status == pb.DEGRADED and o.predicted_loading_class == ""
    for i in range(0, len(batch), 17):
        assert_same_output(model.predict(single(batch, i))[0], out[i])


def test_zero_batch_does_not_raise(model) -> None:
    assert len(model.predict(zero_batch())) == 2
