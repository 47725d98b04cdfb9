"""Reading cadences: 1-s (network meters), 1-min (all meters) and 15-min AMI interval averages.

Smart meters (AMI) report load-profile registers as *interval averages* (IEC 62056 /
DLMS load profile: the mean of the quantity over the 15-min integration period, timestamped
here at the interval start like ``load_series``; real meters and the mesh's ``Reading.timestamp``
stamp the interval end, so shift these by one interval before serving them), not snapshots. ``interval_average`` turns
a fine series into those averages; only complete intervals are reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def interval_average(x: np.ndarray, step_s: float, interval_s: float) -> np.ndarray:
    """Means of ``x`` (..., T) over consecutive complete intervals of ``interval_s``.

    Raises ValueError when the interval is not a whole number of steps.
    """
    k = interval_s / step_s
    if k < 1 or abs(k - round(k)) > 1e-9:
        raise ValueError(f"interval_s {interval_s} is not a whole multiple of step_s {step_s}")
    k = int(round(k))
    n = x.shape[-1] // k
    return x[..., : n * k].reshape(x.shape[:-1] + (n, k)).mean(axis=-1)


def interval_starts(times: pd.DatetimeIndex, step_s: float, interval_s: float) -> pd.DatetimeIndex:
    """Start time of every complete interval of ``interval_average`` over ``times``."""
    k = int(round(interval_s / step_s))
    return times[::k][: len(times) // k]
