"""Per-meter forecast choice, intervals and MAPE from that meter's own recent errors.

The forecaster is fitted on the training feeder; a single meter can be far from it (a clean
daily profile the ensemble reads as noise, a level it never saw). So at every refresh the
served model replays the last few days of the meter's own history: from each recent origin it
forecasts with the model and with the meter's own naive forecasts (persistence, daily naive,
weekly naive once a week and a day exist, the mean of the target's slot over the last 7 days), using only data up to that origin, and scores them
on the intervals that have since arrived. Per served horizon the candidate with the lowest
recent MAPE answers (the model, alone or averaged with the slot mean, answers only where it
has earned it on this meter), its 90 %
interval is split conformal on its own absolute residuals there, and ``mape_pct`` is its recent
MAPE. The residuals are recomputed from the stored history, so replicas agree, and a new model
version is judged on its own forecasts, never on those of the version before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gridtwin.forecast.features import lag_steps

MIN_RESIDUALS = 24  # recent scored origins a horizon needs before the meter's own errors are trusted
SLOT_MEAN_DAYS = 7
NEAR_ZERO = 0.1  # actuals below this share of the mean |load| are left out of MAPE (net load ≈ 0)


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
    out["slot mean"] = slot_mean(y, t, h, day)
    return out


def slot_mean(
    y: np.ndarray, t: np.ndarray, h: np.ndarray, day: int, days: int = SLOT_MEAN_DAYS
) -> np.ndarray:
    """Mean of the target's slot of day over the last `days` observed days (fewer where the
    history is shorter): the daily naive with its noise averaged down."""
    first = np.array([lag_steps(int(k), day) for k in h.ravel()])[None, :]
    total = np.zeros((t.shape[0], h.shape[1]))
    count = np.zeros_like(total)
    for d in range(days):
        src = t + h - first - d * day
        ok = src >= 0
        total += np.where(ok, y[np.clip(src, 0, None)], 0.0)
        count += ok
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


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
    model_preds: np.ndarray,
    now: dict[str, np.ndarray],
    steps: list[int],
    day: int,
    level: float,
    scale: float,
) -> list[Choice | None]:
    """Per served horizon, the candidate with the lowest MAPE on the meter's recent origins.

    model_preds: (n, len(steps)) the model's backtest forecasts from `origins`; now: the current
    point of every candidate (len(steps),). None where fewer than MIN_RESIDUALS origins scored
    (the caller then keeps the model with its training-feeder figures)."""
    naive = naive_points(y, origins, steps, day)
    # the model blended half and half with the slot mean: a meter between the two gets both
    cands = {"model": model_preds, **naive, "model + slot mean": 0.5 * (model_preds + naive["slot mean"])}
    out: list[Choice | None] = []
    for j in range(len(steps)):
        scored = {name: [a[:, j] for a in residuals(y, origins, p, steps)] for name, p in cands.items()}
        common = np.isfinite(scored["model"][0])  # origins whose target arrived (and the model answered)
        n = int(common.sum())
        best: Choice | None = None
        for name, (e, actual) in scored.items():
            # a naive that lacks history at some scored origin (weekly, early on) is not compared
            if n < MIN_RESIDUALS or not np.isfinite(now[name][j]) or not np.isfinite(e[common]).all():
                continue
            score = mape_pct(e[common], actual[common], scale)
            if best is None or score < best.mape_pct:
                best = Choice(name, float(now[name][j]), conformal_half_width(e[common], level), score, n)
        out.append(best)
    return out
