"""The maintenance models' training features come from the monitoring models' per-process cache:
the rows must equal a direct ``features_from_dataframe`` of the same meters' readings."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from training.context import TrainContext
from training.models._maintenance.common import reading_features
from training.models._monitoring import common as monitoring_common
from training.pipeline import dataset_dir


def test_maintenance_features_equal_direct_computation(tmp_path: Path) -> None:
    ctx = TrainContext("cache-test", "quick", 0, dataset_dir("quick", 0), tmp_path, tmp_path)
    readings = ctx.table("readings", "train")
    meters = sorted(readings["meter_id"].unique())[:4]
    direct = features_from_dataframe(readings[readings["meter_id"].isin(meters)].reset_index(drop=True))
    direct = direct.reset_index(drop=True)
    monitoring_common._FEATURE_CACHE.clear()
    pd.testing.assert_frame_equal(reading_features(ctx, "train", meters), direct)  # computed
    monitoring_common.reading_features(ctx, "train")  # the whole feeder cached
    pd.testing.assert_frame_equal(reading_features(ctx, "train", meters), direct)  # from the cache
    monitoring_common._FEATURE_CACHE.clear()
