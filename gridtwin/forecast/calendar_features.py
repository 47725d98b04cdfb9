"""Holiday and yearly features of the lag model (long series), numpy only.

Both calendars are known ahead, so a feature may read them at the target tau; the load itself
is read only up to the origin t.

* holidays: flags of the target day, of the weekly-naive source day and of the daily-lag day,
  and two corrections the ridge can weigh: on a holiday target whose naive source was an
  ordinary day, the most recent observed Sunday at the target slot minus the weekly naive (a
  public holiday's load looks like a Sunday's); on an ordinary target whose source was a
  holiday, two weeks before the target minus the naive;
* yearly: Fourier pairs sin/cos(2πk·doy/365.25) of the target, alone and times the naive
  (the year moves the week-to-week change, more so where the load is high).
"""

from __future__ import annotations

import numpy as np

from gridtwin.forecast.features import lag_steps

SUNDAY = 6


def last_sunday(dow: np.ndarray, tau: np.ndarray, h: int, day: int) -> np.ndarray:
    """Index of the most recent Sunday at the target's slot that is observed at the origin."""
    first = lag_steps(h, day) // day
    out = tau - (first + 6) * day
    for k in range(first + 6, first - 1, -1):  # the nearest Sunday wins (loop ends on it)
        idx = tau - k * day
        out = np.where(dow[idx] == SUNDAY, idx, out)
    return out


def extra_features(
    z: np.ndarray,
    dow: np.ndarray,
    holiday: np.ndarray | None,
    doy: np.ndarray | None,
    t: np.ndarray,
    h: int,
    day: int,
    season: int,
    base: np.ndarray,
    yearly_order: int,
) -> np.ndarray:
    """(n, k) holiday and yearly columns for origins t and horizon h (k may be 0)."""
    tau = t + h
    s_lag, d_lag = lag_steps(h, season), lag_steps(h, day)
    cols: list[np.ndarray] = []
    if holiday is not None:
        ht, hs, hd = (holiday[i].astype(float) for i in (tau, tau - s_lag, tau - d_lag))
        # each correction only where the other day is ordinary (two holidays: the naive is right)
        only_t, only_s = ht * (1 - hs), hs * (1 - ht)
        sunday = z[last_sunday(dow, tau, h, day)] - base
        cols += [ht, hs, hd, only_t * sunday, only_s * (z[tau - s_lag - season] - base)]
    if yearly_order and doy is not None:
        ang = 2 * np.pi * doy[tau] / 365.25
        for k in range(1, yearly_order + 1):
            sin, cos = np.sin(k * ang), np.cos(k * ang)
            cols += [sin, cos, sin * base, cos * base]
    return np.column_stack(cols) if cols else np.empty((len(t), 0))


def extra_min_origin(horizons, day: int, season: int, holidays: bool) -> int:
    """Origins need two seasons before the target (the two-seasons-back correction) and the
    oldest Sunday candidate."""
    if not holidays:
        return 0
    return max(max(lag_steps(h, season) + season, lag_steps(h, day) + 6 * day) - h for h in horizons)
