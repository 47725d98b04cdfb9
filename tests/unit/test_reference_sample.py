"""The drift reference's row sample: whole days of every meter, spread over the span."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.lifecycle.reference import reference_sample


def _readings(meters: int, days: int, step_s: int = 600) -> pd.DataFrame:
    t = pd.Timestamp("2026-01-05", tz="UTC") + pd.to_timedelta(np.arange(0, days * 86400, step_s), unit="s")
    return pd.DataFrame(
        {"meter_id": np.repeat([f"m{k}" for k in range(meters)], len(t)), "timestamp": np.tile(t, meters)}
    )


def test_small_sets_are_kept_whole() -> None:
    r = _readings(3, 2)
    assert reference_sample(r, max_rows=len(r)) is r


def test_large_sets_keep_every_meter_and_whole_days_spread_over_the_span() -> None:
    r = _readings(4, 21)  # 144 readings a day
    got = reference_sample(r, max_rows=4 * 144 * 3)
    assert len(got) <= 4 * 144 * 3 and set(got.meter_id) == set(r.meter_id)
    days = pd.to_datetime(got.timestamp).dt.normalize().unique()
    assert (
        len(days) == 3 and (got.groupby(pd.to_datetime(got.timestamp).dt.normalize()).size() == 4 * 144).all()
    )
    assert days.min() == pd.Timestamp("2026-01-05", tz="UTC") and days.max() == pd.Timestamp(
        "2026-01-25", tz="UTC"
    )
    assert len({d.dayofweek for d in days}) == 3  # not the same weekday three times
