"""The shared train/validation/test split: time blocks, embargo, and meters kept apart."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.split import split_by_time


def _frame(n_meters: int = 10, n_times: int = 200) -> tuple[np.ndarray, np.ndarray]:
    times = np.tile(pd.date_range("2024-01-01", periods=n_times, freq="1min").to_numpy(), n_meters)
    meters = np.repeat([f"m{i}" for i in range(n_meters)], n_times)
    return times, meters


def test_validation_meters_are_never_test_meters():
    times, meters = _frame()
    split = split_by_time(times, meters, embargo=pd.Timedelta("5min"), seed=3)
    val_meters, test_meters, train_meters = (set(meters[m]) for m in (split.val, split.test, split.train))
    assert val_meters and test_meters
    assert not val_meters & test_meters
    assert not train_meters & test_meters
    assert val_meters <= train_meters  # validation: the training meters' later time block


def test_time_blocks_are_ordered_with_embargo():
    times, meters = _frame()
    split = split_by_time(times, meters, embargo=pd.Timedelta("5min"), seed=3)
    t = times.astype("datetime64[ns]")
    assert t[split.train].max() + np.timedelta64(5, "m") <= t[split.val].min()
    assert t[split.val].max() + np.timedelta64(5, "m") <= t[split.test].min()
    assert not (split.train & split.val).any() and not (split.val & split.test).any()


def test_without_meters_only_time_separates():
    times = np.arange(1000, dtype=float)
    split = split_by_time(times, None, embargo=10.0)
    assert split.train.sum() + split.val.sum() + split.test.sum() == 1000 - 20
    assert times[split.train].max() < times[split.val].min() < times[split.test].min()
