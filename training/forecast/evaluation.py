"""Forecast metrics and rolling-origin evaluation.

MAPE = mean(|y - ŷ| / |y|) × 100 over points with y ≠ 0. Rolling origin: a forecast from every
origin t (the last observed step) in the test block, each horizon scored where its target lies
in the block; models only read observations up to t, they are never refitted on the block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gridtwin.forecast.track import robust_scale
from training.forecast.data import LoadSeries, make_track


def mape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error in %, over finite points with a non-zero actual."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    ok = np.isfinite(a) & np.isfinite(f) & (a != 0)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(a[ok] - f[ok]) / np.abs(a[ok])) * 100.0)


def mape_per_horizon(actual: np.ndarray, forecast: np.ndarray, min_abs: float = 0.0) -> np.ndarray:
    """(n, H) arrays → MAPE per column (horizon), NaNs ignored; actuals with |y| < min_abs left out."""
    a = np.where(np.abs(actual) >= min_abs, actual, np.nan) if min_abs > 0 else actual
    return np.array([mape(a[:, j], forecast[:, j]) for j in range(a.shape[1])])


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Σ|y - ŷ| / Σ|y| × 100 (robust where loads come near zero)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    ok = np.isfinite(a) & np.isfinite(f)
    den = np.abs(a[ok]).sum()
    return float(np.abs(a[ok] - f[ok]).sum() / den * 100.0) if den > 0 else float("nan")


def simple_baselines(track, origins: np.ndarray, cfg) -> dict[str, np.ndarray]:
    """Daily seasonal naive and persistence (n, H), z units."""
    from gridtwin.forecast import features as F

    daily = np.column_stack([F.seasonal_naive(track.z, origins, h, cfg.day) for h in cfg.horizons])
    persistence = np.repeat(track.z[origins][:, None], len(cfg.horizons), axis=1)
    return {"daily_naive": daily, "persistence": persistence}


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of finite actuals inside [lower, upper]."""
    a = np.asarray(actual, dtype=float)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    ok = np.isfinite(a) & np.isfinite(lower) & np.isfinite(upper)
    if not ok.any():
        return float("nan")
    return float(np.mean((a[ok] >= lower[ok]) & (a[ok] <= upper[ok])))


@dataclass
class RollingResult:
    """Per-member MAPE per horizon (%), interval coverage, and the raw arrays."""

    horizons: list[int]
    mape: dict[str, np.ndarray]
    coverage: float
    coverage_per_horizon: np.ndarray
    n_origins: int
    actual: np.ndarray = field(repr=False)
    forecasts: dict[str, np.ndarray] = field(repr=False)
    lower: np.ndarray = field(repr=False)
    upper: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, Any]:
        return {
            "n_origins": self.n_origins,
            "mean_mape_pct": {m: float(np.nanmean(v)) for m, v in self.mape.items()},
            "h1_mape_pct": {m: float(v[0]) for m, v in self.mape.items()},
            "interval_coverage": self.coverage,
        }


def rolling_origin(
    model, series: LoadSeries, test_start: int, test_end: int | None = None, truth: np.ndarray | None = None
) -> RollingResult:
    """Forecast from every origin t in [test_start - 1, test_end - 2] with `model`
    (a fitted ForecastModel) and score each horizon whose target is in [test_start, test_end).

    `series` holds the history and the test block; the model's scale comes from the data
    before `test_start` only. `truth` (same length): the values to score against when the
    series the model reads was corrupted on purpose (spikes, dropouts, gaps). Beside the
    members: the daily seasonal naive and persistence (z[t] for every horizon), on the same
    (cleaned, when the model cleans) inputs as the model.
    """
    end = len(series) if test_end is None else test_end
    cfg = model.cfg
    track = make_track(series, cfg.max_h, cfg=cfg, sigma_steps=test_start)
    values = track.z * track.scale
    track.scale = robust_scale(values[:test_start])  # the scale known before the test block
    track.z = values / track.scale
    origins = np.arange(test_start - 1, end - 1)
    # targets beyond the block are masked (the track is padded so indexing stays valid)
    pad = cfg.max_h
    track.z = np.concatenate([track.z[:end], np.full(pad, np.nan)])
    fc = model.predict(track, origins)
    tau = origins[:, None] + np.asarray(cfg.horizons)[None, :]
    ref = (
        track.z
        if truth is None
        else np.concatenate([np.asarray(truth, float)[:end] / track.scale, np.full(pad, np.nan)])
    )
    actual = np.where(tau < end, ref[np.minimum(tau, len(ref) - 1)], np.nan)
    forecasts = {**fc.members, "ensemble": fc.point, **simple_baselines(track, origins, cfg)}
    mapes = {m: mape_per_horizon(actual, v) for m, v in forecasts.items()}
    cov_h = np.array(
        [coverage(actual[:, j], fc.lower[:, j], fc.upper[:, j]) for j in range(len(cfg.horizons))]
    )
    return RollingResult(
        horizons=list(cfg.horizons),
        mape=mapes,
        coverage=coverage(actual, fc.lower, fc.upper),
        coverage_per_horizon=cov_h,
        n_origins=len(origins),
        actual=actual * track.scale,
        forecasts={m: v * track.scale for m, v in forecasts.items()},
        lower=fc.lower * track.scale,
        upper=fc.upper * track.scale,
    )
