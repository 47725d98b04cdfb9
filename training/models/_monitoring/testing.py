"""Test helpers for the monitoring models (batches of realistic rows, vectorisation check)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.model import ModuleBatch, ServedModel
from gridtwin.v1 import assessment_pb2, reading_pb2


def module_batch(features: np.ndarray, readings: Sequence[reading_pb2.Reading] | None = None) -> ModuleBatch:
    n = len(features)
    readings = (
        list(readings) if readings is not None else [reading_pb2.Reading(meter_id=f"m{i}") for i in range(n)]
    )
    return ModuleBatch(
        readings=readings,
        features=np.asarray(features, float),
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in range(n)],
    )


def quick_features(
    meters: Sequence[str] | None = None, start: int = 600, rows_per_meter: int = 30
) -> pd.DataFrame:
    """Serving features of a stretch of the quick dataset's training-feeder readings."""
    from gridsim.network import TRAINING_FEEDER
    from training.pipeline import dataset_dir

    readings = pd.read_parquet(dataset_dir("quick", 0) / TRAINING_FEEDER / "readings.parquet")
    if meters is not None:
        readings = readings[readings["meter_id"].isin(meters)]
    feats = features_from_dataframe(readings)
    feats = feats.groupby("meter_id", sort=False).nth(list(range(start, start + rows_per_meter)))
    return feats


def feature_matrix(feats: pd.DataFrame) -> np.ndarray:
    return feats[list(FEATURE_NAMES)].to_numpy(float)


def assert_vectorised(model: ServedModel, batch: ModuleBatch) -> list:
    """predict(batch) equals predict on each row alone (same messages); returns the outputs."""
    whole = model.predict(batch)
    assert len(whole) == len(batch)
    for k in range(len(batch)):
        single = model.predict(module_batch(batch.features[k : k + 1], [batch.readings[k]]))
        assert len(single) == 1
        a, b = whole[k], single[0]
        for field in a.DESCRIPTOR.fields:
            va, vb = getattr(a, field.name), getattr(b, field.name)
            if isinstance(va, float):
                assert np.isclose(va, vb, rtol=1e-9, atol=1e-12), (field.name, va, vb)
            elif field.name == "outlier_features":
                assert [x.feature for x in va] == [x.feature for x in vb]
                assert np.allclose([x.contribution for x in va], [x.contribution for x in vb])
            elif (
                field.message_type is None
                and not isinstance(va, (str, bool, int))
                and len(va)
                and isinstance(va[0], float)
            ):
                assert np.allclose(list(va), list(vb))
            else:
                assert va == vb, (field.name, va, vb)
    return whole
