"""Realistic serving batches for the maintenance models' tests (simulator readings → features)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.model import ModuleBatch
from gridtwin.v1 import assessment_pb2, reading_pb2


def batch_from_frame(frame: pd.DataFrame) -> ModuleBatch:
    """A ModuleBatch of simulator readings with their serving features (same code as training)."""
    feats = features_from_dataframe(frame.reset_index(drop=True))
    readings = []
    for r in feats.itertuples():
        rd = reading_pb2.Reading(meter_id=r.meter_id)
        rd.timestamp.FromNanoseconds(int(pd.Timestamp(r.timestamp).value))
        readings.append(rd)
    return ModuleBatch(
        readings=readings,
        features=feats[list(FEATURE_NAMES)].to_numpy(float),
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in readings],
    )


def single(batch: ModuleBatch, i: int) -> ModuleBatch:
    return ModuleBatch(
        readings=[batch.readings[i]],
        features=batch.features[i : i + 1],
        feature_names=batch.feature_names,
        schema_version=batch.schema_version,
        upstream=[batch.upstream[i]],
        context={k: _slice(v, i) for k, v in batch.context.items()},
    )


def _slice(v, i):
    if isinstance(v, dict):
        return {k: (x[i : i + 1] if isinstance(x, np.ndarray) else x) for k, x in v.items()}
    return v


def zero_batch(n: int = 2) -> ModuleBatch:
    return ModuleBatch(
        readings=[reading_pb2.Reading(meter_id=f"warmup-{i}") for i in range(n)],
        features=np.zeros((n, len(FEATURE_NAMES))),
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in range(n)],
    )


def assert_same_output(a, b, rel: float = 1e-9) -> None:
    """Two output messages equal up to float rounding (batched numpy reductions may differ in
    the last bit from single-row ones)."""
    import pytest
    from google.protobuf.json_format import MessageToDict

    da, db = MessageToDict(a), MessageToDict(b)
    assert da.keys() == db.keys()

    def cmp(x, y):
        if isinstance(x, dict):
            assert x.keys() == y.keys()
            for k in x:
                cmp(x[k], y[k])
        elif isinstance(x, list):
            assert len(x) == len(y)
            for u, v in zip(x, y, strict=True):
                cmp(u, v)
        elif isinstance(x, float):
            assert x == pytest.approx(y, rel=rel, abs=1e-12)
        elif isinstance(x, str) and x != y:
            # details may print rounded floats; compare numerically where they differ
            assert x.split()[0] == y.split()[0]
        else:
            assert x == y

    cmp(da, db)
