"""The run-scoped table cache (training.runcache): computed once per run and key, read back
exactly (the network models train on the cached features), nothing cached outside a run."""

from __future__ import annotations

import pandas as pd
import pytest

from training.netopt.dataset import network_features
from training.pipeline import dataset_dir
from training.runcache import CACHE_ENV, cached_frame


def test_computed_once_per_key_within_a_run_and_never_outside(tmp_path, monkeypatch):
    calls = []

    def compute() -> pd.DataFrame:
        calls.append(1)
        return pd.DataFrame({"x": [1.5, 2.5]})

    monkeypatch.delenv(CACHE_ENV, raising=False)
    cached_frame("k", compute)
    cached_frame("k", compute)
    assert len(calls) == 2  # outside a run: no cache
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    first = cached_frame("k", compute)
    again = cached_frame("k", compute)
    cached_frame("other", compute)
    assert len(calls) == 4  # "k" once more, "other" once
    pd.testing.assert_frame_equal(first, again)


@pytest.mark.slow
def test_cached_network_features_equal_the_computed_ones(tmp_path, monkeypatch):
    source = dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet"
    readings = pd.read_parquet(source)
    heads = readings[~readings.meter_id.str.contains("-C", regex=False)].meter_id.unique()[:2]
    readings = readings[readings.meter_id.isin(heads)].reset_index(drop=True)
    direct = network_features(readings)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    network_features(readings, source)  # computes and writes
    pd.testing.assert_frame_equal(network_features(readings, source), direct)  # read back
    assert list(tmp_path.glob("*.parquet"))
