"""1.1 voltage anomaly: packed isolation forest, score mapping, registered quality, serving."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from gridtwin.models._monitoring.voltage_features import DESCRIPTOR_NAMES, INPUT_COLUMNS, voltage_descriptors
from gridtwin.models.voltage_anomaly import Model, map_score
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from training.models._monitoring.pack import pack_isolation_forest
from training.models._monitoring.testing import (
    assert_vectorised,
    feature_matrix,
    module_batch,
    quick_features,
)


def test_packed_isolation_forest_matches_sklearn():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 15))
    forest = IsolationForest(n_estimators=30, max_samples=128, random_state=0).fit(x)
    packed, c = pack_isolation_forest(forest)
    probe = rng.normal(size=(300, 15)) * 2
    s = 2.0 ** (-packed.mean_value(probe)[:, 0] / c)
    np.testing.assert_allclose(s, -forest.score_samples(probe), rtol=1e-12)


def test_score_map_is_monotone_with_threshold_at_zero():
    s = np.linspace(0.01, 1.0, 200)
    m = map_score(s, 0.55)
    assert np.all(np.diff(m) > 0) and m.min() >= -1 and m.max() <= 1
    assert map_score(np.array([0.55]), 0.55)[0] == 0.0


def test_descriptors_expose_a_frozen_meter():
    x = np.zeros((2, len(INPUT_COLUMNS)))
    x[:, :6] = 1.0
    x[:, 9] = x[:, 11] = x[:, 12] = 1.0
    x[0, 10], x[1, 10] = 6e-4, 0.0  # rolling std: meter noise vs stuck
    d = voltage_descriptors(x)
    k = DESCRIPTOR_NAMES.index("log10_rolling5_std_pu")
    assert d[1, k] < d[0, k] - 2


def test_registered_manifest(quick_registry):
    entry = load_entry("voltage_anomaly", quick_registry)
    m = entry.manifest["metrics"]
    assert m["f1"]["value"] > m["f1"]["baseline"]  # beats the EN 50160 ±10 % rule
    assert m["roc_auc"]["value"] >= 0.7
    assert m["f1"]["goal"] == ">= 0.90"
    # The registry records the serving latency; its budget is measured by bench/, not asserted here.
    assert {"single_row_ms_p50", "batch_1000_ms"} <= set(entry.manifest["latency"])
    assert entry.manifest["latency"]["single_row_ms_p50"] > 0


@pytest.fixture(scope="module")
def served(quick_registry):
    return Model(load_entry("voltage_anomaly", quick_registry))


def test_served_outputs(served):
    feats = quick_features(["dorf-TR", "dorf-C003"], rows_per_meter=10)
    x = feature_matrix(feats)
    # A dropped phase and a frozen meter (measured to be missed often: see the report) added.
    drop, frozen = x[0].copy(), x[1].copy()
    names = list(feats.columns[2:])
    drop[names.index("voltage_b_pu")] = 0.0
    drop[names.index("voltage_min_pu")] = 0.0
    frozen[names.index("rolling5_voltage_mean_pu_std")] = 0.0
    out = assert_vectorised(served, module_batch(np.vstack([x, drop, frozen])))
    for o in out:
        assert isinstance(o, assessment_pb2.VoltageAnomaly) and o.info.status == assessment_pb2.OK
        assert -1.0 <= o.anomaly_score <= 1.0
        assert o.anomaly_detected == (o.anomaly_score >= 0)
        assert len(o.outlier_features) == 3
        assert all(f.feature in DESCRIPTOR_NAMES for f in o.outlier_features)
    assert out[-2].anomaly_detected and out[-2].info.severity == assessment_pb2.CRITICAL
    assert np.mean([o.anomaly_detected for o in out[:-2]]) < 0.5


def test_zero_rows_do_not_raise(served):
    assert len(served.predict(module_batch(np.zeros((2, 135))))) == 2
