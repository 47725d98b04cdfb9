"""Realistic model batches for the tests: simulator readings through the serving feature code."""

from __future__ import annotations

import numpy as np
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.model import ModuleBatch
from gridtwin.v1 import assessment_pb2, reading_pb2
from training.pipeline import dataset_dir


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
        context={k: _item(v, i) for k, v in b.context.items()},
    )


def _item(value, i: int):
    """Item `i` of a model's context: arrays and lists per item are sliced; a dict is sliced
    per value (per-meter maps such as the asset register stay whole)."""
    if isinstance(value, dict):
        return {k: _item(v, i) if isinstance(v, (list, np.ndarray)) else v for k, v in value.items()}
    return value[i : i + 1]
