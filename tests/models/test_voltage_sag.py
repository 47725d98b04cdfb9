"""2.4 Voltage sag: registered metrics and served outputs (ONNX parity: test_onnx_parity.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2 as pb
from tests.models._maintenance_rows import assert_same_output, batch_from_frame, single, zero_batch
from training.pipeline import dataset_dir

CAUSES = {"fault", "motor_start", "transformer_energising", "upstream_reclose"}


@pytest.fixture(scope="module")
def model(quick_registry):
    from gridtwin.models.voltage_sag import Model

    return Model(load_entry("voltage_sag", quick_registry))


def test_manifest_quality(quick_registry) -> None:
    m = load_entry("voltage_sag", quick_registry).manifest["metrics"]
    assert m["cause_accuracy"]["value"] >= 0.85
    assert m["cause_accuracy"]["value"] > m["cause_accuracy"]["baseline"] + 0.3
    assert m["duration_mae_s"]["value"] < m["duration_mae_s"]["baseline"]
    # anchored on the observation: never worse than "so far" on the held-out events
    assert m["depth_mae_pct_nominal"]["value"] <= m["depth_mae_pct_nominal"]["baseline"]
    assert m["duration_log10_error_decades"]["value"] <= m["duration_log10_error_decades"]["baseline"]
    assert 0.0 <= m["next_hour_brier"]["value"] <= 0.25


def test_served_outputs_during_and_outside_sags(model) -> None:
    root = dataset_dir("quick", 0) / "kerber_dorfnetz"
    tr = pd.read_parquet(root / "event_traces.parquet")
    ev = pd.read_parquet(root / "sag_events.parquet")
    pick = ev[(ev.depth_pu < 0.8) & ev.meter_id.isin(tr.meter_id.unique())].drop_duplicates("cause").head(3)
    parts = []
    for r in pick.itertuples():
        t = tr[(tr.event_id == r.event_id) & (tr.meter_id == r.meter_id)].drop(columns="event_id")
        parts.append(t.assign(meter_id=f"{r.meter_id}#{r.event_id}").head(60))
    readings = pd.read_parquet(root / "readings.parquet").groupby("meter_id").head(12).head(60)
    batch = batch_from_frame(pd.concat([*parts, readings], ignore_index=True))
    out = model.predict(batch)
    vmin = batch.column("voltage_min_pu")
    assert any(o.sag_in_progress for o in out) and any(not o.sag_in_progress for o in out)
    for o, v in zip(out, vmin, strict=True):
        assert o.info.status == pb.OK
        assert 0.0 <= o.sag_probability <= 1.0
        assert o.sag_in_progress == bool(v < 0.9)
        if o.sag_in_progress:
            assert o.likely_cause in CAUSES
            assert 0.0 <= o.expected_sag_depth_pu <= v + 1e-9
            assert o.expected_duration_s > 0
            assert o.ieee1159_category
        else:
            assert o.likely_cause == "" and o.expected_sag_depth_pu == 0.0
            assert "no sag in progress" in o.info.detail
    for i in range(0, len(batch), 13):
        assert_same_output(model.predict(single(batch, i))[0], out[i])


def test_zero_batch_does_not_raise(model) -> None:
    out = model.predict(zero_batch())
    assert len(out) == 2
