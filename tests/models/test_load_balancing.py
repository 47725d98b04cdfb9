"""4.2 load balancing: registered power-flow verification and the served plan contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from gridtwin.features.compute import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModuleBatch
from gridtwin.v1 import assessment_pb2, reading_pb2
from training.pipeline import dataset_dir


# ---- realistic batches: simulator readings through the serving feature code ----
def readings(
    feeder: str = "kerber_dorfnetz", pattern: str = "-TR", every: int = 37, n: int = 12
) -> pd.DataFrame:
    r = pd.read_parquet(dataset_dir("quick", 0) / feeder / "readings.parquet")
    r = r[r["meter_id"].str.contains(pattern)]
    feats = features_from_dataframe(r)
    return feats.iloc[60::every].head(n)


def batch(frame: pd.DataFrame) -> ModuleBatch:
    protos = []
    for m, t in zip(frame["meter_id"], frame["timestamp"], strict=True):
        ts = Timestamp()
        ts.FromNanoseconds(int(pd.Timestamp(t).value))
        protos.append(reading_pb2.Reading(meter_id=str(m), timestamp=ts))
    x = frame[list(FEATURE_NAMES)].to_numpy(float)
    return ModuleBatch(
        readings=protos,
        features=x,
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in protos],
    )


def sub(b: ModuleBatch, i: int) -> ModuleBatch:
    return ModuleBatch(
        readings=[b.readings[i]],
        features=b.features[i : i + 1],
        feature_names=b.feature_names,
        schema_version=b.schema_version,
        upstream=[b.upstream[i]],
        context={
            k: (v[i : i + 1] if isinstance(v, np.ndarray) else v[i : i + 1]) for k, v in b.context.items()
        },
    )


def test_manifest_beats_naive(quick_registry) -> None:
    m = load_entry("load_balancing", quick_registry).manifest
    ratio = m["metrics"]["median_vuf_ratio_after_before"]
    assert ratio["value"] < 1.0, "moves must reduce VUF in the power flow"
    assert ratio["value"] <= ratio["baseline"] + 1e-9, "TOPSIS plan must not be worse than the naive move"
    assert m["metrics"]["mean_moves"]["value"] <= 3


def test_served_plans(quick_registry) -> None:
    from gridtwin.models.load_balancing import Model

    model = Model(load_entry("load_balancing", quick_registry))
    rows = readings("kerber_dorfnetz", "-TR|-F", every=41, n=10)
    b = batch(rows)
    out = model.predict(b)
    assert len(out) == len(rows)
    for o, meter in zip(out, rows["meter_id"], strict=True):
        assert isinstance(o, assessment_pb2.LoadBalancing)
        assert o.info.status == assessment_pb2.OK, (meter, o.info.detail)
        assert len(o.moves) <= 3
        assert o.vuf_before_pct >= 0 and o.expected_vuf_pct >= 0
        assert o.expected_vuf_pct <= o.vuf_before_pct + 1e-9
        assert 0.0 <= o.score <= 1.0
        for mv in o.moves:
            assert mv.from_phase in "abc" and mv.to_phase in "abc" and mv.from_phase != mv.to_phase
            assert mv.load_id.startswith("dorf-C")
    for i in range(len(rows)):
        assert model.predict(sub(b, i))[0] == out[i]


def test_other_meters_degraded(quick_registry) -> None:
    from gridtwin.models.load_balancing import Model

    model = Model(load_entry("load_balancing", quick_registry))
    out = model.predict(batch(readings("kerber_dorfnetz", "-C", n=2)))
    assert all(o.info.status == assessment_pb2.DEGRADED and not o.moves for o in out)
