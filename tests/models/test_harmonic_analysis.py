"""1.2 harmonic analysis: exact THD from waveform/harmonics, source forest, RMS-only estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridsim.network import TRAINING_FEEDER
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models.harmonic_analysis import LEVELS, Model, thd_level_index
from gridtwin.physics.harmonics import harmonic_subgroups_rms, thd_pct_from_waveform
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2, reading_pb2
from training.models._monitoring.testing import assert_vectorised, module_batch
from training.pipeline import dataset_dir

SOURCES = {"none", "six_pulse_drive", "smps_led", "pv_inverter"}


def test_thd_bands():
    assert thd_level_index(np.array([0.0, 2.99, 3.0, 4.99, 5.0, 7.99, 8.0, 20.0])).tolist() == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert LEVELS == ("low", "moderate", "high", "severe")


def test_registered_manifest(quick_registry):
    entry = load_entry("harmonic_analysis", quick_registry)
    m = entry.manifest["metrics"]
    low = m["source_accuracy_30_35db"]
    assert low["value"] >= 0.90 and low["goal"] == ">= 0.95"
    assert low["value"] >= low["baseline"]  # never below always-majority
    if low["assessable"]:
        assert low["value"] > low["baseline"]
    else:
        # One source class among the 30-35 dB test windows: the majority baseline is perfect
        # and cannot be beaten, so the manifest says so instead of "missed" or "met".
        assert low["baseline"] == 1.0 and low["goal_met"] is None
        assert low["verdict"].startswith("not assessable: ") and "one class" in low["verdict"]
    # Discrimination is judged over all SNRs, whatever the low-SNR subset holds.
    assert m["source_accuracy"]["value"] > m["source_accuracy"]["baseline"]
    assert m["thd_estimate_mae_pp"]["value"] <= m["thd_estimate_mae_pp"]["baseline"] + 1e-9
    # The registry records the serving latency; its budget is measured by bench/, not asserted here.
    assert {"single_row_ms_p50", "batch_1000_ms"} <= set(entry.manifest["latency"])
    assert entry.manifest["latency"]["single_row_ms_p50"] > 0


@pytest.fixture(scope="module")
def served(quick_registry):
    return Model(load_entry("harmonic_analysis", quick_registry))


@pytest.fixture(scope="module")
def windows():
    folder = dataset_dir("quick", 0) / TRAINING_FEEDER
    lab = pd.read_parquet(folder / "harmonic_labels.parquet").iloc[-40:]
    z = np.load(folder / "harmonic_windows.npz")
    rows = lab["window_id"].to_numpy()
    v = z["voltage"][rows].astype(float) * z["voltage_scale"][rows, None]
    i = z["current"][rows].astype(float) * z["current_scale"][rows, None]
    return lab, v, i


def _features(n: int) -> np.ndarray:
    x = np.zeros((n, len(FEATURE_NAMES)))
    x[:, FEATURE_NAMES.index("frequency_hz")] = 50.0
    x[:, FEATURE_NAMES.index("nominal_frequency_hz")] = 50.0
    x[:, FEATURE_NAMES.index("voltage_mean_pu")] = 1.0
    x[:, FEATURE_NAMES.index("nominal_voltage_v")] = 230.0
    return x


def test_waveform_path_is_exact_and_classifies(served, windows):
    lab, v, i = windows
    fs = float(lab["sample_rate_hz"].iat[0])
    readings = []
    for k in range(len(lab)):
        r = reading_pb2.Reading(meter_id=f"h{k}", frequency=50.0)
        r.waveform.sample_rate_hz = fs
        r.waveform.voltage_a.extend(v[k])
        r.waveform.current_a.extend(i[k])
        readings.append(r)
    out = assert_vectorised(served, module_batch(_features(len(lab)), readings))
    thd = thd_pct_from_waveform(v, fs, 50.0)
    truth = lab["source_type"].replace({"background": "none"}).to_numpy()
    for k, o in enumerate(out):
        assert o.info.status == assessment_pb2.OK and not o.thd_is_estimate
        assert o.thd_voltage_pct == pytest.approx(thd[k], rel=1e-9)
        assert o.harmonic_level in LEVELS and o.source_type in SOURCES
        assert len(o.harmonic_magnitudes_pct) == 39 and len(o.dominant_orders) == 3
        assert 0 <= o.source_confidence <= 1
    assert np.mean([o.source_type == t for o, t in zip(out, truth, strict=True)]) >= 0.9


def test_reported_harmonics_path(served, windows):
    lab, v, _ = windows
    sg = harmonic_subgroups_rms(v[:5], float(lab["sample_rate_hz"].iat[0]), 50.0)
    readings = []
    for k in range(5):
        r = reading_pb2.Reading(meter_id=f"r{k}", frequency=50.0)
        r.harmonics.voltage_a.extend(sg[k])
        r.harmonics.voltage_b.extend(sg[k] * np.r_[1.0, np.full(39, 0.5)])
        readings.append(r)
    out = served.predict(module_batch(_features(5), readings))
    for k, o in enumerate(out):
        assert not o.thd_is_estimate and "reported harmonics" in o.info.detail
        assert o.thd_voltage_pct == pytest.approx(np.sqrt((sg[k, 1:] ** 2).sum()) / sg[k, 0] * 100)


def test_rms_only_is_a_flagged_estimate(served):
    out = served.predict(module_batch(_features(3)))
    for o in out:
        assert o.thd_is_estimate and o.info.status == assessment_pb2.DEGRADED
        assert o.source_type == "" and "estimate" in o.info.detail and o.thd_voltage_pct >= 0


def test_zero_rows_do_not_raise(served):
    assert len(served.predict(module_batch(np.zeros((2, len(FEATURE_NAMES)))))) == 2
