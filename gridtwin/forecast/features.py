"""Forecast features on a normalised series z (load / scale), numpy only.

Everything is indexed by *origin* t (the last observed step) and horizon h (steps ahead, the
target is tau = t + h). A feature for origin t only reads z[.. t]: no look-ahead. The
calendar arrays (slot of day, day of week) cover the targets too (they are known ahead).

* seasonal lags: the same slot one season earlier (`season` = a week, or a day in the
  short-history variant): z[tau - season·ceil(h/season)], the seasonal naive forecast;
* recent deviations from the seasonal lag (the "AR on seasonal differences" of double
  seasonal exponential smoothing): z[t-j] - z[t-j-season];
* the daily lag of the target slot and yesterday's deviation there;
* calendar of the target: one-hot slot of day and day of week.
"""

from __future__ import annotations

import math
import warnings

import numpy as np


def lag_steps(h: int, period: int) -> int:
    """The most recent lag of the target slot at `period` that is observed at origin t."""
    return period * math.ceil(h / period)


def min_origin(horizons, day: int, season: int) -> int:
    """Smallest origin index t for which every feature of every horizon exists."""
    need = season + 3
    for h in horizons:
        need = max(need, lag_steps(h, season) - h)
        if season != day:
            need = max(need, lag_steps(h, day) + season - h)
    return need


def seasonal_naive(z: np.ndarray, origins: np.ndarray, h: int, season: int) -> np.ndarray:
    return z[origins + h - lag_steps(h, season)]


def lag_features(
    z: np.ndarray,
    slot: np.ndarray,
    dow: np.ndarray,
    origins: np.ndarray,
    h: int,
    day: int,
    season: int,
    calendar_onehot: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix (n_origins, n_features) and the seasonal-naive base for horizon h.

    The lag model predicts z[tau] - base from these features.
    """
    t = np.asarray(origins, dtype=np.int64)
    tau = t + h
    s_lag = lag_steps(h, season)
    base = z[tau - s_lag]
    cols = [z[t - j] - z[t - j - season] for j in range(4)]
    cols += [z[t] - z[t - 1], z[t - 1] - z[t - 2]]
    d_lag = lag_steps(h, day)
    cols.append(z[t] + z[tau - d_lag] - z[t - d_lag] - base)
    if season != day:
        cols += [
            z[tau - d_lag] - z[tau - d_lag - season],
            z[t] - z[t - day],
            z[tau - d_lag] - base,
        ]
    x = np.column_stack(cols)
    if calendar_onehot:
        n = len(t)
        oh_slot = np.zeros((n, day))
        oh_slot[np.arange(n), slot[tau]] = 1.0
        oh_dow = np.zeros((n, 7))
        oh_dow[np.arange(n), dow[tau]] = 1.0
        x = np.hstack([x, oh_slot, oh_dow])
    return x, base


def n_lag_features(day: int, season: int, calendar_onehot: bool = True) -> int:
    return 7 + (3 if season != day else 0) + ((day + 7) if calendar_onehot else 0)


def fill_gaps(values: np.ndarray, day: int, max_interp: int) -> np.ndarray:
    """Fill NaNs: short runs linearly, long runs from a week (or a day) earlier."""
    v = np.asarray(values, dtype=float).copy()
    miss = ~np.isfinite(v)
    if not miss.any():
        return v
    if miss.all():
        raise ValueError("no valid values")
    idx = np.arange(len(v))
    linear = np.interp(idx, idx[~miss], v[~miss])
    # run lengths of the gaps
    edges = np.diff(np.concatenate([[0], miss.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for a, b in zip(starts, ends, strict=True):
        if b - a <= max_interp:
            v[a:b] = linear[a:b]
            continue
        for lag in (7 * day, day):
            src = np.arange(a, b) - lag
            if src.min() >= 0 and np.isfinite(v[src]).all():
                v[a:b] = v[src]
                break
        else:
            v[a:b] = linear[a:b]
    return v


# ---- sequence inputs of the LSTM ---------------------------------------------------------

N_SEQ_CHANNELS = 5


def sequence_inputs(
    z: np.ndarray,
    slot: np.ndarray,
    origins: np.ndarray,
    seq_len: int,
    day: int,
    season: int,
) -> np.ndarray:
    """(n, seq_len, 5): per step k of the last `seq_len` steps up to the origin:
    z[k] - z[k-season], z[k] - z[k-day], z[k] - 1, sin and cos of the slot of day."""
    t = np.asarray(origins, dtype=np.int64)
    k = t[:, None] + np.arange(-seq_len + 1, 1)[None, :]
    ang = 2 * np.pi * slot[k] / day
    return np.stack([z[k] - z[k - season], z[k] - z[k - day], z[k] - 1.0, np.sin(ang), np.cos(ang)], axis=-1)


def head_inputs(z: np.ndarray, origins: np.ndarray, horizons, day: int, season: int) -> np.ndarray:
    """(n, 2·H): per horizon, yesterday's seasonal deviation at the target slot and the
    daily-naive minus seasonal-naive difference (both observed at the origin)."""
    t = np.asarray(origins, dtype=np.int64)
    cols = []
    for h in horizons:
        tau = t + h
        d_lag, s_lag = lag_steps(h, day), lag_steps(h, season)
        cols.append(z[tau - d_lag] - z[tau - d_lag - season])
        cols.append(z[tau - d_lag] - z[tau - s_lag])
    return np.column_stack(cols)


def lstm_min_origin(horizons, seq_len: int, day: int, season: int) -> int:
    need = seq_len - 1 + season
    for h in horizons:
        need = max(need, lag_steps(h, day) + season - h, lag_steps(h, season) - h)
    return need


# ---- cleaning (spikes, dropouts to ~0, missing steps), causal --------------------------------

SPIKE_SIGMAS = 8.0  # upward departures from the seasonal reference beyond this many robust σ
DROPOUT_SHARE = 0.1  # a value below this share of a positive reference is a dropout (meter/outage)


def seasonal_reference(v: np.ndarray, day: int, season: int) -> np.ndarray:
    """Median of the same slot one, two and three seasons earlier (the day before where none):
    only past values, so replacing a value by it looks nowhere ahead."""
    n = len(v)

    def back(k: int) -> np.ndarray:
        r = np.full(n, np.nan)
        if k < n:
            r[k:] = v[: n - k]
        return r

    stack = np.stack([back(k * season) for k in (1, 2, 3)])
    with warnings.catch_warnings():  # all-NaN columns (the first season) are expected
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(stack, axis=0)
    return np.where(np.isfinite(ref), ref, back(day))


def clean(
    v: np.ndarray, day: int, season: int, sigma_steps: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cleaned values, flagged mask). Flagged: missing, upward spikes (> SPIKE_SIGMAS robust σ
    above the seasonal reference, σ from the first `sigma_steps` values) and dropouts (below
    DROPOUT_SHARE of a positive reference). Downward departures above that are kept: holidays
    and outages of demand are real. Flagged values take the reference (else the last kept value)."""
    v = np.asarray(v, dtype=float)
    ref = seasonal_reference(v, day, season)
    dev = v - ref
    part = dev[: sigma_steps or len(v)]
    part = part[np.isfinite(part)]
    sigma = 1.4826 * float(np.median(np.abs(part - np.median(part)))) if len(part) else np.inf
    with np.errstate(invalid="ignore"):
        flagged = ~np.isfinite(v) | (dev > SPIKE_SIGMAS * sigma) | ((ref > 0) & (v < DROPOUT_SHARE * ref))
    out = np.where(flagged, ref, v)
    bad = ~np.isfinite(out)
    if bad.any():  # no reference either: carry the last kept value forward (causal)
        idx = np.where(~bad, np.arange(len(out)), 0)
        np.maximum.accumulate(idx, out=idx)
        out = out[idx]
    return out, flagged
