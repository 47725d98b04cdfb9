"""1.4 phase imbalance: registered quality, exact quantities, cause tree and phase naming."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._monitoring.imbalance_features import (
    DESCRIPTOR_NAMES,
    INPUT_COLUMNS,
    cause_descriptors,
    critical_phase,
    three_phase_current,
)
from gridtwin.models.phase_imbalance import CLASSES, Model, imbalance_class_index
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from training.models._monitoring.open_phase import RESIDUAL_PU, inject_open_phases
from training.models._monitoring.testing import (
    assert_vectorised,
    feature_matrix,
    module_batch,
    quick_features,
)

CAUSES = {"none", "phase_concentrated_load", "open_phase", "unbalanced_pv", "sensor_fault"}


def test_vuf_bands_are_half_open():
    vuf = np.array([0.0, 0.99, 1.0, 1.99, 2.0, 2.99, 3.0, 10.0])
    assert imbalance_class_index(vuf).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def _row(v=(1.0, 1.0, 1.0), i=(10.0, 10.0, 10.0), p=(2000.0, 2000.0, 2000.0)) -> np.ndarray:
    x = np.zeros((1, len(INPUT_COLUMNS)))
    x[0, 0:3], x[0, 3:6], x[0, 6:9] = v, i, p
    return x


def test_critical_phase_follows_the_cause_physics():
    x = np.vstack(
        [_row(i=(10, 40, 10)), _row(i=(30, 0.0, 30)), _row(p=(2000, 2000, -5000)), _row(v=(1.0, 0.0, 1.0))]
    )
    causes = np.array(["phase_concentrated_load", "open_phase", "unbalanced_pv", "sensor_fault"])
    assert critical_phase(x, causes).tolist() == ["b", "b", "c", "b"]


def test_single_phase_meters_are_not_assessed():
    x = np.vstack([_row(i=(12, 0, 0)), _row(i=(12, 0, 11)), _row(i=(0, 0, 0))])
    assert three_phase_current(x).tolist() == [False, True, False]
    d = cause_descriptors(x)
    assert d.shape == (3, len(DESCRIPTOR_NAMES)) and np.isfinite(d).all()


def test_registered_manifest(quick_registry):
    entry = load_entry("phase_imbalance", quick_registry)
    assert entry is not None
    m = entry.manifest["metrics"]
    # Accuracy must not fall below always answering the majority cause by more than 2 points
    # where the test block holds a cause to find; when it holds only "none" (the quick profile)
    # the figure is not assessable, and the other feeder's accuracy must beat its majority.
    acc = m["cause_accuracy"]
    if acc["assessable"]:
        assert acc["value"] >= acc["baseline"] - 0.02
    other = m["other_feeder_cause_accuracy"]
    assert other["value"] > other["baseline"]
    # The physics naming of the critical phase must be right on ≥ 90 % of held-out rows.
    assert m["critical_phase_accuracy"]["value"] >= 0.90
    assert m["cause_accuracy"]["goal"] == ">= 0.92"
    # The registry records the serving latency; its budget is measured by bench/, not asserted here.
    assert {"single_row_ms_p50", "batch_1000_ms"} <= set(entry.manifest["latency"])
    assert entry.manifest["latency"]["single_row_ms_p50"] > 0


@pytest.fixture(scope="module")
def served(quick_registry):
    return Model(load_entry("phase_imbalance", quick_registry))


def test_served_outputs_on_realistic_rows(served):
    feats = quick_features(["dorf-TR", "dorf-F1", "dorf-C001"], rows_per_meter=8)
    x = feature_matrix(feats)
    out = assert_vectorised(served, module_batch(x))
    vuf = feats["vuf_pct"].to_numpy()
    for k, o in enumerate(out):
        assert isinstance(o, assessment_pb2.PhaseImbalance)
        assert o.info.model_name == "phase_imbalance" and o.info.model_version == served.version
        assert o.vuf_pct == pytest.approx(vuf[k]) and o.lvur_pct >= 0 and o.pvur_pct >= 0
        assert o.imbalance_class == CLASSES[imbalance_class_index(vuf[k : k + 1])[0]]
        if feats["meter_id"].iat[k].endswith("C001"):
            assert o.info.status == assessment_pb2.DEGRADED and o.likely_cause == ""
        else:
            assert o.info.status == assessment_pb2.OK
            assert o.likely_cause in CAUSES and o.critical_phase in ("a", "b", "c")
            assert 0.0 <= o.cause_confidence <= 1.0


def test_zero_rows_do_not_raise(served):
    out = served.predict(module_batch(np.zeros((2, len(FEATURE_NAMES)))))
    assert [o.info.status for o in out] == [assessment_pb2.DEGRADED] * 2


def _tr_readings(rows: int = 180) -> pd.DataFrame:
    from gridsim.network import TRAINING_FEEDER
    from training.pipeline import dataset_dir

    readings = pd.read_parquet(dataset_dir("quick", 0) / TRAINING_FEEDER / "readings.parquet")
    return readings[readings["meter_id"] == "dorf-TR"].iloc[600 : 600 + rows]


def test_open_phase_injection_follows_the_physics():
    readings = _tr_readings()
    out, opened = inject_open_phases(readings, ["dorf-TR"], 1, np.random.default_rng(3))
    assert len(opened) >= 10 and opened["phase"].nunique() == 1
    ph = opened["phase"].iat[0]
    hit = out["timestamp"].isin(set(opened["timestamp"])).to_numpy()
    un = out["nominal_voltage"].to_numpy()[hit]
    v = out[f"voltage_{ph}"].to_numpy()[hit]
    assert ((v >= 0) & (v <= RESIDUAL_PU[1] * un * 1.01)).all()  # below EN 50160's 5 % threshold
    for name in ("current", "active_power", "reactive_power"):
        assert (out[f"{name}_{ph}"].to_numpy()[hit] == 0).all()
    others = [c for c in readings.columns if not c.endswith(f"_{ph}")]
    pd.testing.assert_frame_equal(out[others], readings[others])  # other phases keep their supply
    pd.testing.assert_frame_equal(out[~hit], readings[~hit])  # outside the event nothing changes


def test_served_tree_names_an_open_phase_and_leaves_normal_rows(served):
    readings = _tr_readings()
    out, opened = inject_open_phases(readings, ["dorf-TR"], 1, np.random.default_rng(3))
    feats = features_from_dataframe(out)
    hit = feats["timestamp"].isin(set(opened["timestamp"])).to_numpy()
    res = served.predict(module_batch(feature_matrix(feats)))
    cause = np.array([o.likely_cause for o in res])
    phase = np.array([o.critical_phase for o in res])
    assert (cause[hit] == "open_phase").mean() >= 0.9
    assert (phase[hit] == opened["phase"].iat[0]).mean() >= 0.9
    assert (cause[~hit] != "open_phase").mean() >= 0.9
