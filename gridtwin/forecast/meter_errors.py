"""Per-meter forecast choice, intervals and MAPE from that meter's own recent errors.

The forecaster is fitted on the training feeder; a single meter can be far from it (a clean
daily profile the ensemble reads as noise, a level it never saw). So at every refresh the
served model replays the last few days of the meter's own history: from each recent origin it
forecasts with the model and with the meter's own naive forecasts, using only data up to that
origin (and the readings of the interval in progress that had arrived when that origin's
forecast was made), and scores them on the intervals that have since arrived. Per served
horizon the candidate with the lowest recent MAPE answers, its 90 % interval is split
conformal on its own absolute residuals there, and ``mape_pct`` is its recent MAPE.

Candidates: the model; persistence; daily and weekly naive; the slot mean and the slot median
of the target's slot over the last 7 days (the median is robust to an appliance left on, and
the median is what minimises absolute error, hence MAPE's numerator); the model averaged with
the slot mean; the median of the available forecasts; and the persistence of the latest
(partial) interval, i.e. the freshest readings. Each candidate is scored on every replayed
origin where it could answer (the naives on the whole window, the model where it answered),
so the choice among naives rests on the most data. The residuals are recomputed from the stored
history, so replicas agree, and a new model version is judged on its own forecasts.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from gridtwin.forecast.features import lag_steps

MIN_RESIDUALS = 24  # recent scored origins a candidate needs at a horizon before it is trusted
SLOT_DAYS = 7  # days of the target's slot averaged by the slot mean / median
NEAR_ZERO = 0.1  # actuals below this share of the mean |load| are left out of MAPE (net load ≈ 0)
LATEST = "latest partial interval"
MEDIAN = "median of forecasts"
MEDIAN_OF = ("model", "daily naive", "weekly naive", "slot median", LATEST)


@dataclass
class Choice:
    """One served horizon: which forecast answers, its point, conformal half-width and MAPE."""

    source: str
    point: float
    half_width: float
    mape_pct: float
    n: int


def naive_points(y: np.ndarray, origins: np.ndarray, steps: list[int], day: int) -> dict[str, np.ndarray]:
    """(n, len(steps)) naive forecasts of the meter's own series from `origins` (indices into y);
    NaN where the lag falls before the history."""
    t = np.asarray(origins, dtype=np.int64)[:, None]
    h = np.asarray(steps, dtype=np.int64)[None, :]
    out = {"persistence": np.broadcast_to(y[t], (t.shape[0], h.shape[1])).astype(float)}
    for name, period in (("daily naive", day), ("weekly naive", 7 * day)):
        lag = np.array([lag_steps(int(k), period) for k in steps])[None, :]
        src = t + h - lag
        ok = src >= 0
        out[name] = np.where(ok, y[np.clip(src, 0, None)], np.nan)
    same_slot = slot_history(y, t, h, day)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no history yet, NaN answer
        out["slot mean"] = np.nanmean(same_slot, axis=0)
        out["slot median"] = np.nanmedian(same_slot, axis=0)
    return out


def slot_history(y: np.ndarray, t: np.ndarray, h: np.ndarray, day: int, days: int = SLOT_DAYS) -> np.ndarray:
    """(days, n, len(steps)) the target's slot of day on the last `days` observed days before
    each origin, NaN where the history is shorter."""
    first = np.array([lag_steps(int(k), day) for k in h.ravel()])[None, :]
    src = np.stack([t + h - first - d * day for d in range(days)])
    return np.where(src >= 0, y[np.clip(src, 0, None)], np.nan)


def latest_points(latest: np.ndarray, steps: list[int]) -> np.ndarray:
    """(n, len(steps)) persistence of the interval in progress at each origin (its readings that
    had arrived when that origin's forecast was made). NaN at one step ahead: that target IS the
    interval in progress, so its readings would be a partial observation of the target itself
    (a nowcast, the whole truth at 15-min cadence), not a forecast."""
    lat = np.asarray(latest, float)[:, None]
    ahead = (np.asarray(steps) > 1)[None, :]
    return np.where(ahead, lat, np.nan)


def candidates(
    y: np.ndarray,
    origins: np.ndarray,
    model_preds: np.ndarray,
    latest: np.ndarray,
    steps: list[int],
    day: int,
) -> dict[str, np.ndarray]:
    """Every candidate's (n, len(steps)) forecasts from `origins`: the model (NaN where it did not
    answer), the naives, the latest partial interval and the two combinations."""
    out = {"model": np.asarray(model_preds, float), **naive_points(y, origins, steps, day)}
    out[LATEST] = latest_points(latest, steps)
    # the model blended half and half with the slot mean: a meter between the two gets both
    out["model + slot mean"] = 0.5 * (out["model"] + out["slot mean"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no history yet, NaN answer
        out[MEDIAN] = np.nanmedian(np.stack([out[k] for k in MEDIAN_OF]), axis=0)
    return out


def residuals(y: np.ndarray, origins: np.ndarray, preds: np.ndarray, steps: list[int]) -> np.ndarray:
    """actual − forecast (n, len(steps)); NaN where the target has not arrived yet."""
    tgt = np.asarray(origins, dtype=np.int64)[:, None] + np.asarray(steps, dtype=np.int64)[None, :]
    ok = tgt < len(y)
    actual = np.where(ok, y[np.clip(tgt, 0, len(y) - 1)], np.nan)
    return actual - preds, actual


def mape_pct(err: np.ndarray, actual: np.ndarray, scale: float) -> float:
    keep = np.isfinite(err) & np.isfinite(actual) & (np.abs(actual) >= NEAR_ZERO * scale)
    return float(100 * np.mean(np.abs(err[keep] / actual[keep]))) if keep.any() else float("nan")


def conformal_half_width(err: np.ndarray, level: float) -> float:
    """The ⌈(n+1)·level⌉-th smallest |residual| (the largest when n is too small for it)."""
    r = np.sort(np.abs(err[np.isfinite(err)]))
    k = min(len(r), math.ceil((len(r) + 1) * level)) - 1
    return float(r[k])


def choose(
    y: np.ndarray,
    origins: np.ndarray,
    backtest: dict[str, np.ndarray],
    now: dict[str, np.ndarray],
    steps: list[int],
    level: float,
    scale: float,
) -> list[Choice | None]:
    """Per served horizon, the candidate with the lowest MAPE on the meter's recent origins.

    backtest: each candidate's (n, len(steps)) forecasts from `origins` (NaN where it could not
    answer); now: each candidate's current point (len(steps),). A candidate is scored on the
    origins where it answered and its target has arrived, and competes only with at least
    MIN_RESIDUALS of them. None where none qualifies (the caller then keeps the model with its
    training-feeder figures)."""
    out: list[Choice | None] = []
    for j in range(len(steps)):
        best: Choice | None = None
        for name, preds in backtest.items():
            if not np.isfinite(now[name][j]):
                continue
            err, actual = (a[:, j] for a in residuals(y, origins, preds, steps))
            keep = np.isfinite(err)
            n = int(keep.sum())
            score = mape_pct(err[keep], actual[keep], scale) if n >= MIN_RESIDUALS else float("nan")
            if math.isfinite(score) and (best is None or score < best.mape_pct):
                best = Choice(name, float(now[name][j]), conformal_half_width(err[keep], level), score, n)
        out.append(best)
    return out
