"""Fitting the forecaster: members, then ensemble weights and conformal bounds on validation
forecasts of members trained without the validation block, then (optionally) a refit.

* weights: non-negative per-horizon weights summing to one (NNLS with a penalty row), over
  the weekly seasonal naive and the members that are not far worse than the best of them on
  validation (mean MAPE over the horizons), smoothed across neighbouring horizons, and
  replaced by the best single column (member or naive) at any horizon where they would make
  the ensemble worse than it on validation. The naive is a column so that, where a noisy
  series makes it the best validation forecast, the ensemble takes it rather than losing to it;
* intervals: split-conformal residual quantiles of the ensemble on the same validation origins.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.forecast.config import Config
from gridtwin.forecast.ensemble import NAIVE, ForecastModel, combine, from_model, model_track
from gridtwin.forecast.members import SeasonalNaive
from gridtwin.forecast.meter_errors import NEAR_ZERO
from gridtwin.forecast.track import Track
from training.forecast.data import LoadSeries, make_track, steps_per_day
from training.forecast.evaluation import mape_per_horizon
from training.forecast.members import fit_lag, fit_lstm, fit_prophet


def default_config(step: pd.Timedelta, max_horizon: pd.Timedelta | str = "1D", **kw: Any) -> Config:
    """A config for a resolution: horizons every step up to `max_horizon` (≤ 1 day)."""
    day = steps_per_day(step)
    n_h = int(pd.Timedelta(max_horizon) / pd.Timedelta(step))
    return Config(
        step_minutes=pd.Timedelta(step).total_seconds() / 60.0,
        horizons=list(range(1, n_h + 1)),
        day=day,
        season=7 * day,
        **kw,
    )


def fit_weights(preds: np.ndarray, target: np.ndarray, penalty: float = 1e3) -> np.ndarray:
    """Non-negative weights summing to one minimising squared error (NNLS with a penalty row).

    preds: (n, M); target: (n,)."""
    from scipy.optimize import nnls

    ok = np.isfinite(preds).all(axis=1) & np.isfinite(target)
    a = np.vstack([preds[ok], np.full((1, preds.shape[1]), penalty)])
    b = np.concatenate([target[ok], [penalty]])
    w, _ = nnls(a, b)
    return w / w.sum() if w.sum() > 0 else np.full(preds.shape[1], 1.0 / preds.shape[1])


def conformal_bounds(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Split-conformal bounds from absolute residuals: ±q, q the ceil((n+1)·level)/n
    empirical quantile of |residual| (symmetric: robust to a bias that changes sign between
    the calibration and the test period)."""
    r = np.sort(np.abs(residuals[np.isfinite(residuals)]))
    n = len(r)
    if n == 0:
        return float("nan"), float("nan")
    k = min(n - 1, int(np.ceil((n + 1) * level)) - 1)
    return -float(r[k]), float(r[k])


def fit_members(model: ForecastModel, tracks: list[Track], ends: list[int], step, tz) -> None:
    """Fit every member of ``model.cfg`` and the short model on the tracks up to `ends` (in place)."""
    c = model.cfg
    fitters = {
        "lag": lambda: fit_lag(c, tracks, ends),
        "lstm": lambda: fit_lstm(c, tracks, ends),
        "prophet": lambda: fit_prophet(c, tracks, ends, step, tz),
        "short": lambda: fit_lag(c, tracks, ends, season=c.day),
    }
    for name in (*c.members, "short"):
        if name not in fitters:
            raise ValueError(f"unknown member {name!r}")
        started = time.perf_counter()
        setattr(model, name, fitters[name]())
        key = f"fit_{name}_s"
        model.timings[key] = model.timings.get(key, 0.0) + time.perf_counter() - started


def validation_forecasts(model: ForecastModel, tracks: list[Track], ends: list[int]):
    """Forecasts of every member, the weekly and daily naive and persistence from every origin
    whose targets fall after `ends`."""
    c = model.cfg
    preds: dict[str, list[np.ndarray]] = {
        m: [] for m in (*c.members, "short", "naive", "daily_naive", "persistence")
    }
    targets = []
    first = max(max(model.member(m).min_origin() for m in c.members), 0)
    for tr, end in zip(tracks, ends, strict=True):
        org = np.arange(max(end - 1, first), len(tr) - c.max_h)
        if len(org) == 0:
            continue
        mt = model_track(tr, c)
        for m in (*c.members, "short"):
            preds[m].append(from_model(model.member(m).predict(mt, org), c))
        preds["naive"].append(SeasonalNaive(c).predict(tr, org))
        # the meter's own naive forecasts too: serving falls back to the best of them on this block
        preds["daily_naive"].append(SeasonalNaive(c, season=c.day).predict(tr, org))
        preds["persistence"].append(np.repeat(tr.z[org][:, None], len(c.horizons), axis=1))
        targets.append(np.column_stack([tr.z[org + h] for h in c.horizons]))
    if not targets:
        raise ValueError("validation block too short for the horizons")
    return {m: np.concatenate(v) for m, v in preds.items()}, np.concatenate(targets)


FAR_WORSE = 1.5  # a member whose mean validation MAPE exceeds the best member's by this factor gets no weight
SMOOTH_HORIZONS = 5  # weights are averaged over this many neighbouring horizons (noise of per-horizon fits)


def eligible_members(mape: dict[str, np.ndarray], members: tuple[str, ...]) -> np.ndarray:
    """(H, C) mask of the columns (``members`` then the weekly naive) that get weight: the
    naive always, and the members whose validation MAPE averaged over the horizons is within
    FAR_WORSE × the best column's (one decision per member, regularised across horizons:
    per-horizon decisions are noisy)."""
    mean = np.array([np.nanmean(mape[m]) for m in (*members, NAIVE)])
    mean = np.where(np.isfinite(mean), mean, np.inf)
    use = mean <= FAR_WORSE * float(np.min(mean))
    use[-1] = True
    return np.broadcast_to(use, (len(mape[NAIVE]), len(members) + 1)).copy()


def masked_weights(stack: np.ndarray, target: np.ndarray, use: np.ndarray) -> np.ndarray:
    """``fit_weights`` over the members in ``use``; the others get 0."""
    w = np.zeros(stack.shape[1])
    w[use] = fit_weights(stack[:, use], target)
    return w


def smooth_weights(weights: np.ndarray, width: int = SMOOTH_HORIZONS) -> np.ndarray:
    """Centred moving average of (H, M) weights over neighbouring horizons (edges use the
    horizons there are). Averages of non-negative rows summing to one stay so."""
    n_h = len(weights)
    half = width // 2
    return np.array([weights[max(0, j - half) : j + half + 1].mean(axis=0) for j in range(n_h)])


def val_mape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Validation MAPE per horizon (z units), leaving out actuals below NEAR_ZERO of the series'
    mean |load|: pooled customer net loads cross zero with rooftop PV, and those points would
    decide every comparison (validation MAPEs of several hundred % otherwise)."""
    return mape_per_horizon(actual, forecast, min_abs=NEAR_ZERO)


def never_worse(weights: np.ndarray, stack: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Per horizon, if the weighted ensemble's validation MAPE is above the best single
    column's there (a member or the weekly naive), that column alone (one-hot): on validation
    the ensemble is then never worse than any member, nor the naive, at any horizon. Returns the weights and the horizons replaced."""
    w = weights.copy()
    replaced = []
    for j in range(len(w)):
        member_mape = np.array([val_mape(y[:, [j]], stack[:, j, [m]])[0] for m in range(stack.shape[2])])
        member_mape = np.where(np.isfinite(member_mape), member_mape, np.inf)
        ens = val_mape(y[:, [j]], (stack[:, j] @ w[j])[:, None])[0]
        if not ens <= member_mape.min():
            w[j] = np.eye(stack.shape[2])[int(np.argmin(member_mape))]
            replaced.append(j)
    return w, replaced


def ensemble_weights(stack: np.ndarray, y: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """(H, C) weights: NNLS per horizon over the eligible columns, smoothed across horizons,
    then guarded so the ensemble is never worse than its best column on validation."""
    raw = np.array([masked_weights(stack[:, j], y[:, j], use[j]) for j in range(len(use))])
    return never_worse(smooth_weights(raw), stack, y)


def calibrate(model: ForecastModel, preds: dict[str, np.ndarray], y: np.ndarray) -> None:
    """Ensemble weights, conformal bounds and validation scores from validation forecasts."""
    c = model.cfg
    n_h = len(c.horizons)
    columns = (*c.members, NAIVE)
    stack = np.stack([preds[m] for m in columns], axis=-1)  # (n, H, C)
    mape = {m: val_mape(y, preds[m]) for m in columns}
    use = eligible_members(mape, tuple(c.members))
    model.weights, replaced = ensemble_weights(stack, y, use)
    ens = combine(preds, c.members, model.weights)
    model.bounds = np.array([conformal_bounds(y[:, j] - ens[:, j], c.level) for j in range(n_h)])
    model.short_bounds = np.array(
        [conformal_bounds(y[:, j] - preds["short"][:, j], c.level) for j in range(n_h)]
    )
    model.validation = {
        "origins": int(len(y)),
        "mape_per_horizon": {m: val_mape(y, v).tolist() for m, v in {**preds, "ensemble": ens}.items()},
        "weights": model.weights.tolist(),
        "eligible": {m: use[:, i].tolist() for i, m in enumerate(columns)},
        "horizons_best_member_alone": replaced,
    }


def fit_forecaster(
    cfg: Config, series: list[LoadSeries], val_steps: int, refit: bool = True
) -> ForecastModel:
    """Fit on `series` (all of it is fit data): members on all but the last `val_steps` of each
    series, ensemble weights and conformal bounds on forecasts of those last steps, then
    (refit=True) the members again on everything.

    BLAS runs single-threaded here: the matrices are small and, on a shared 2-core machine,
    extra BLAS/OpenMP threads spin instead of helping."""
    from threadpoolctl import threadpool_limits

    model = ForecastModel(cfg)
    step, tz = series[0].step, series[0].tz
    tracks = [make_track(s, cfg.max_h, cfg=cfg) for s in series]
    inner_ends = [len(t) - val_steps for t in tracks]
    with threadpool_limits(limits=1):
        fit_tracks = [model_track(t, cfg) for t in tracks]
        fit_members(model, fit_tracks, inner_ends, step, tz)
        calibrate(model, *validation_forecasts(model, tracks, inner_ends))
        if refit:
            fit_members(model, fit_tracks, [len(t) for t in tracks], step, tz)
    return model
