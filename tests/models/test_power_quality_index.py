"""2.3 Power quality index: the index formula, registered metrics, served outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._maintenance.pqi import pq_class, pqi_from_ratios, ratios
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2 as pb
from tests.models._maintenance_rows import assert_same_output, batch_from_frame, single, zero_batch
from training.pipeline import dataset_dir


def test_index_hand_checked() -> None:
    # 0.95 pu worst phase (r = 0.5), THD 4 % (0.5), VUF 1 % (0.5), f +0.25 % (0.25)
    r = ratios(np.array([0.95]), np.array([1.0]), np.array([4.0]), np.array([1.0]), np.array([0.25]))
    np.testing.assert_allclose(r, [[0.5, 0.5, 0.5, 0.25]])
    # 100 − (35·0.5 + 30·0.5 + 20·0.5 + 15·0.25)/1.5 = 100 − 46.25/1.5
    np.testing.assert_allclose(pqi_from_ratios(r), [100 - 46.25 / 1.5])
    worst = ratios(np.array([0.5]), np.array([1.5]), np.array([40.0]), np.array([10.0]), np.array([5.0]))
    np.testing.assert_allclose(pqi_from_ratios(worst), [0.0])
    assert pq_class(np.array([95, 80, 60, 10])).tolist() == ["excellent", "good", "fair", "poor"]


def test_onnx_mlp_matches_sklearn_on_held_out_rows(tmp_path) -> None:
    """The served graph (skl2onnx, float32) equals scikit-learn's predict within 1e-4 (log THD)
    on rows the network never saw."""
    from training.models.power_quality_index import NN_COLUMNS, PARITY_TOL, export_mlp, make_mlp

    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, len(NN_COLUMNS)))
    y = 0.5 * np.tanh(x[:, 0]) - 0.2 * x[:, 1] * x[:, 2] + rng.normal(0, 0.05, len(x))
    nn = make_mlp(1e-3, quick=True, seed=0).fit(x[:1000], y[:1000])
    served, gap = export_mlp(nn, tmp_path / "mlp.onnx", x[1000:])
    direct = np.abs(served.run_one(x[1000:])[:, 0] - nn.predict(x[1000:])).max()
    assert gap == pytest.approx(direct) and direct < PARITY_TOL == 1e-4


@pytest.fixture(scope="module")
def model(quick_registry):
    from gridtwin.models.power_quality_index import Model

    return Model(load_entry("power_quality_index", quick_registry))


def test_manifest_quality(quick_registry) -> None:
    manifest = load_entry("power_quality_index", quick_registry).manifest
    m = manifest["metrics"]
    # training compared the exported graph with scikit-learn on the held-out test rows
    assert manifest["onnx_parity"]["rows"] > 100 and manifest["onnx_parity"]["max_abs"] < 1e-4
    # a floor, not the goal: the THD the RMS reading lacks is independent of it in the simulator
    assert m["pqi_mae"]["value"] <= 6.0
    assert m["pqi_r2"]["value"] >= m["pqi_r2"]["baseline"] - 0.1


def test_served_outputs(model) -> None:
    df = (
        pd.read_parquet(dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet")
        .groupby("meter_id")
        .head(5)
    )
    batch = batch_from_frame(df)
    out = model.predict(batch)
    for o in out:
        assert o.info.status == pb.OK
        assert 0.0 <= o.pqi <= 100.0
        assert o.pq_class in {"excellent", "good", "fair", "poor"}
        assert o.is_estimate and "estimate" in o.info.detail
    for i in range(0, len(batch), 11):
        assert_same_output(model.predict(single(batch, i))[0], out[i])


def test_exact_when_thd_attached(model) -> None:
    df = pd.read_parquet(dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet").head(3)
    batch = batch_from_frame(df)
    col = list(FEATURE_NAMES)
    batch.features[:, col.index("thd_voltage_max_pct")] = 4.0
    batch.features[:, col.index("thd_available")] = 1.0
    out = model.predict(batch)
    r = ratios(
        batch.column("voltage_min_pu"),
        batch.column("voltage_max_pu"),
        np.full(3, 4.0),
        batch.column("vuf_pct"),
        batch.column("frequency_deviation_pct"),
    )
    np.testing.assert_allclose([o.pqi for o in out], pqi_from_ratios(r))
    assert not any(o.is_estimate for o in out)


def test_zero_batch_does_not_raise(model) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = model.predict(zero_batch())
    assert len(out) == 2
