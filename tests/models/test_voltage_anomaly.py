"""1.1 voltage anomaly: ONNX parity, the standards' rules, registered quality, serving outcomes
(meter-relative normal, frozen sensor, no baseline, events)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, N_FEATURES
from gridtwin.models._monitoring.voltage_features import DESCRIPTOR_NAMES
from gridtwin.models._monitoring.voltage_rules import EVENTS, voltage_events
from gridtwin.models.voltage_anomaly import Model, forest_scores, map_score
from gridtwin.registry import load_entry
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2
from training.models._monitoring.iforest_onnx import isolation_forest_to_onnx
from training.models._monitoring.testing import assert_vectorised, module_batch
from training.onnx_export import float32_at_or_below


def test_onnx_isolation_forest_matches_sklearn(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, len(DESCRIPTOR_NAMES)))
    forest = IsolationForest(n_estimators=60, max_samples=256, random_state=0).fit(x)
    path, denominator = isolation_forest_to_onnx(forest, tmp_path / "f.onnx")
    probe = np.vstack([rng.normal(size=(500, x.shape[1])) * 2, rng.normal(size=(5, x.shape[1])) * 20])
    s_onnx = forest_scores(OnnxModel(path), denominator, probe)
    np.testing.assert_allclose(s_onnx, -forest.score_samples(probe.astype(np.float32)), atol=1e-5)


def test_onnx_isolation_forest_agrees_on_values_at_the_split_thresholds(tmp_path):
    """Quantised readings (0.1 V steps) put feature values right beside split thresholds:
    rows holding, at a split's feature, the float32 just above and at-or-below its float64
    threshold score as in scikit-learn (round-to-nearest float32 thresholds sent the first
    the wrong way)."""
    rng = np.random.default_rng(2)
    x = np.round(rng.normal(230, 3, size=(3000, len(DESCRIPTOR_NAMES))), 1)
    forest = IsolationForest(n_estimators=40, max_samples=256, random_state=0).fit(x)
    path, denominator = isolation_forest_to_onnx(forest, tmp_path / "f.onnx")
    rows = []
    for est in forest.estimators_[:10]:
        tree = est.tree_
        for i in np.flatnonzero(tree.children_left != -1)[:30]:
            t, f = tree.threshold[i], tree.feature[i]
            below = float32_at_or_below(t)
            for v in (below, np.nextafter(np.float32(below), np.float32(np.inf))):
                row = x[rng.integers(len(x))].astype(np.float32)
                row[f] = v
                rows.append(row)
    probe = np.array(rows, dtype=np.float32)
    s_onnx = forest_scores(OnnxModel(path), denominator, probe)
    np.testing.assert_allclose(s_onnx, -forest.score_samples(probe), atol=1e-6)


def test_score_map_is_monotone_with_threshold_at_zero():
    s = np.linspace(0.01, 1.0, 200)
    m = map_score(s, 0.55)
    assert np.all(np.diff(m) > 0) and m.min() >= -1 and m.max() <= 1
    assert map_score(np.array([0.55]), 0.55)[0] == 0.0


@pytest.mark.parametrize(
    ("v_pu", "under_s", "over_s", "event"),
    [
        ((0.02, 0.03, 0.01), 5.0, 0.0, "interruption"),
        ((1.0, 0.01, 1.01), 5.0, 0.0, "open_phase"),
        ((0.6, 1.0, 1.0), 5.0, 0.0, "sag"),
        ((0.7, 0.7, 1.0), 5.0, 0.0, "sag"),
        ((0.88, 0.88, 0.88), 900.0, 0.0, "undervoltage"),  # a 15-min average below 0.9 pu
        ((1.15, 1.0, 1.0), 0.0, 2.0, "swell"),
        ((1.12, 1.11, 1.12), 0.0, 120.0, "overvoltage"),
        ((0.91, 1.09, 1.0), 0.0, 0.0, "none"),  # inside EN 50160's ±10 %
    ],
)
def test_standard_events(v_pu, under_s, over_s, event):
    r = voltage_events(np.array([[*v_pu, under_s, over_s]]))
    assert EVENTS[r.event[0]] == event
    assert r.detected[0] == (event != "none")


def _meter_stream(n: int, step_s: float, v_level: float, vn: float = 230.0, fn: float = 50.0, seed: int = 0):
    """A live meter: voltage noise and load steps around ``v_level`` V."""
    rng = np.random.default_rng(seed)
    t = pd.Timestamp("2026-01-05T00:00:00Z") + pd.to_timedelta(np.arange(n) * step_s, unit="s")
    d = {"meter_id": f"m{seed}", "timestamp": t, "frequency": fn + rng.normal(0, 0.01, n)}
    load = 8 + 4 * (rng.random(n) > 0.7)
    for ph in "abc":
        d[f"voltage_{ph}"] = np.round(v_level * (1 + rng.normal(0, 0.002, n)), 1)
        d[f"current_{ph}"] = np.round(load + rng.normal(0, 0.3, n), 2)
        d[f"active_power_{ph}"] = np.round(d[f"voltage_{ph}"] * d[f"current_{ph}"] * 0.93)
        d[f"reactive_power_{ph}"] = np.round(d[f"voltage_{ph}"] * d[f"current_{ph}"] * 0.36)
    d["nominal_voltage"], d["nominal_frequency"] = vn, fn
    return pd.DataFrame(d)


def _rows(df: pd.DataFrame) -> np.ndarray:
    return features_from_dataframe(df)[list(FEATURE_NAMES)].to_numpy(float)


def test_registered_manifest(quick_registry):
    entry = load_entry("voltage_anomaly", quick_registry)
    m = entry.manifest["metrics"]
    assert "ONNX" in entry.manifest["algorithm"]
    assert m["onnx_parity_max_abs"]["value"] <= 1e-4
    assert m["false_alarm_rate"]["goal"] == "<= 0.01"
    assert {"model", "forest"} <= set(entry.manifest["artifacts"])
    assert {"single_row_ms_p50", "batch_1000_ms"} <= set(entry.manifest["latency"])


@pytest.fixture(scope="module")
def served(quick_registry):
    return Model(load_entry("voltage_anomaly", quick_registry))


def test_normal_is_relative_to_the_meter(served):
    """A meter living at 240 V on 230 V nominal (+4.3 %, inside EN 50160) and a 120 V / 60 Hz
    meter at 117 V are normal once their baselines exist; their first reading is judged by the
    standards alone, and says so."""
    for df in (_meter_stream(120, 60.0, 240.0, seed=1), _meter_stream(120, 60.0, 117.0, 120.0, 60.0, seed=2)):
        out = served.predict(module_batch(_rows(df)))
        assert not out[0].anomaly_detected and out[0].info.detail.startswith("no baseline")
        late = out[30:]
        assert sum(o.anomaly_detected for o in late) <= 1
        assert all(o.info.severity in (assessment_pb2.NORMAL, assessment_pb2.ADVISORY) for o in late)


def test_steady_voltage_is_not_an_anomaly(served):
    """230.0 V on every phase and every reading (the load still varies): not anomalous."""
    df = _meter_stream(90, 60.0, 230.0, seed=3)
    for ph in "abc":
        df[f"voltage_{ph}"] = 230.0
    out = served.predict(module_batch(_rows(df)))
    assert not any(o.anomaly_detected for o in out)


def test_frozen_sensor_is_its_own_outcome(served):
    df = _meter_stream(60, 60.0, 231.0, seed=4)
    cols = [
        c for c in df.columns if c.split("_")[0] in ("voltage", "current", "active", "reactive", "frequency")
    ]
    df.loc[40:, cols] = df.loc[39, cols].to_numpy()
    out = served.predict(module_batch(_rows(df)))
    frozen = out[43:]
    assert all(o.info.detail.startswith("frozen_sensor") for o in frozen)
    assert not any(o.anomaly_detected for o in frozen)
    assert all(o.info.severity == assessment_pb2.ADVISORY for o in frozen)
    assert frozen[0].outlier_features[0].feature == "identical_readings_run"


def test_events_are_flagged_with_their_standard(served):
    df = _meter_stream(60, 60.0, 232.0, seed=5)
    df.loc[50, "voltage_b"] = 1.5  # phase b lost
    df.loc[55:57, ["voltage_a", "voltage_b", "voltage_c"]] = 0.87 * 230.0  # 3-min undervoltage
    out = assert_vectorised(served, module_batch(_rows(df)))
    assert out[50].anomaly_detected and out[50].info.severity == assessment_pb2.CRITICAL
    assert out[50].info.detail.startswith("open_phase")
    assert out[50].outlier_features[0].feature == "voltage_b_pu"
    assert out[57].anomaly_detected and out[57].info.detail.startswith("undervoltage")
    assert out[57].info.severity == assessment_pb2.WARNING and out[57].anomaly_score == 1.0


def test_missing_values_do_not_raise(served):
    x = np.full((2, N_FEATURES), np.nan)
    x[:, [FEATURE_NAMES.index(f"voltage_{p}_pu") for p in "abc"]] = 1.0
    out = served.predict(module_batch(x))
    assert [o.anomaly_detected for o in out] == [False, False]
    assert all(o.info.detail.startswith("no baseline") for o in out)
