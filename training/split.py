"""Train/validation/test splits without leakage.

Rows are split by time into 70/15/15 blocks with an embargo gap between blocks (at least
the label horizon, so no training label looks into the test period) and, optionally, by
meter: test rows come only from held-out meters, never seen in training or validation.
Validation rows are the middle time block of the *training* meters, so a model refitted on
train + validation, or calibrated or early-stopped on validation, never sees a test meter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # boolean masks over the frame's rows
    val: np.ndarray
    test: np.ndarray

    def describe(self) -> dict[str, object]:
        return {
            "method": "time blocks 70/15/15 with embargo"
            + (
                " + meter hold-out (validation: training meters; test: held-out meters)"
                if self.by_meter
                else ""
            ),
            "rows": {
                "train": int(self.train.sum()),
                "val": int(self.val.sum()),
                "test": int(self.test.sum()),
            },
        }

    by_meter: bool = False


def split_by_time(
    times: pd.Series | np.ndarray,
    meters: pd.Series | np.ndarray | None = None,
    fractions: tuple[float, float, float] = (0.70, 0.15, 0.15),
    embargo: pd.Timedelta | float = 0,
    holdout_meter_fraction: float = 0.3,
    seed: int = 0,
) -> Split:
    """Masks for a 70/15/15 split by time (and by meter when `meters` is given).

    `embargo` drops rows within that distance before each cut (a Timedelta for datetime
    times, seconds otherwise). With meters, a seeded `holdout_meter_fraction` of meters is
    reserved for validation/test and the rest for training.
    """
    t = pd.to_datetime(times) if not np.issubdtype(np.asarray(times).dtype, np.number) else pd.Series(times)
    t_values = np.asarray(t)
    lo, hi = t_values.min(), t_values.max()
    span = hi - lo
    cut1 = lo + span * fractions[0]
    cut2 = lo + span * (fractions[0] + fractions[1])
    gap = pd.Timedelta(embargo) if isinstance(embargo, pd.Timedelta) else embargo
    if isinstance(gap, pd.Timedelta):
        gap = np.timedelta64(gap.value, "ns")
    train = t_values < cut1 - gap if gap else t_values < cut1
    val = (t_values >= cut1) & ((t_values < cut2 - gap) if gap else (t_values < cut2))
    test = t_values >= cut2
    by_meter = meters is not None
    if by_meter:
        m = np.asarray(meters)
        unique = np.unique(m)
        rng = np.random.default_rng(seed)
        n_hold = max(1, int(round(len(unique) * holdout_meter_fraction)))
        holdout = set(rng.choice(unique, size=n_hold, replace=False).tolist())
        is_hold = np.array([x in holdout for x in m])
        train &= ~is_hold
        val &= ~is_hold  # validation meters are never test meters
        test &= is_hold
    return Split(train=train, val=val, test=test, by_meter=by_meter)
