"""Realistic feature rows for the network-physics model tests (serving feature code on the
simulator's quick dataset): transformer, feeder-head and customer meters, plus unknown ids."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.model import ModuleBatch
from gridtwin.v1 import assessment_pb2, reading_pb2


@lru_cache(maxsize=1)
def rows() -> tuple[list[str], np.ndarray]:
    import pandas as pd

    from training.pipeline import dataset_dir

    readings = pd.read_parquet(dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet")
    meters = ["dorf-TR", "dorf-F2", str(sorted(m for m in readings.meter_id.unique() if "-C" in m)[0])]
    part = readings[readings.meter_id.isin(meters)]
    part = part[part.timestamp.dt.minute % 20 == 7]  # a spread over the days (history filled)
    feats = features_from_dataframe(part.reset_index(drop=True))
    feats = (
        feats.groupby("meter_id", group_keys=False)[list(feats.columns)]
        .apply(lambda g: g.iloc[5::20])
        .reset_index(drop=True)
    )
    return feats.meter_id.tolist(), feats[list(FEATURE_NAMES)].to_numpy(float)


def batch(meter_ids: list[str], x: np.ndarray) -> ModuleBatch:
    return ModuleBatch(
        readings=[reading_pb2.Reading(meter_id=m) for m in meter_ids],
        features=x,
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in meter_ids],
    )


def assert_batch_equals_single(model, meter_ids: list[str], x: np.ndarray) -> None:
    whole = model.predict(batch(meter_ids, x))
    for j in range(len(meter_ids)):
        one = model.predict(batch(meter_ids[j : j + 1], x[j : j + 1]))[0]
        a, b = whole[j], one
        # NaN != NaN in proto equality: compare serialised bytes
        assert a.SerializeToString(deterministic=True) == b.SerializeToString(deterministic=True)
