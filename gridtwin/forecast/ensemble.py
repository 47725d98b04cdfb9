"""The fitted forecaster at inference: members combined by per-horizon weights, with intervals.

Non-negative per-horizon weights (summing to one) and split-conformal residual bounds are
fitted on validation forecasts (``training/forecast/ensemble.py``). The weekly seasonal naive
is a weighted column too (the last one): where it forecasts validation better than the fitted
members, the ensemble can lean on it instead of being worse than its own baseline. A ``short`` lag model
(season = one day) serves series with less than the full ensemble's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from gridtwin.forecast.config import Config
from gridtwin.forecast.members import LagModel, LSTMMember, ProphetMember, SeasonalNaive
from gridtwin.forecast.track import Track


@dataclass
class Forecast:
    """Forecasts at given origins: point (n, H) per member and ensemble, interval bounds."""

    horizons: list[int]
    members: dict[str, np.ndarray]
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


NAIVE = "naive"  # the weekly seasonal naive's column, after the members'


def weighted_columns(members: tuple[str, ...], weights: np.ndarray) -> tuple[str, ...]:
    """The forecasts ``weights``' columns weigh: the members, then the weekly naive (models
    registered before the naive had a column have (H, M) weights)."""
    return (*members, NAIVE)[: weights.shape[1]]


def combine(preds: dict[str, np.ndarray], members: tuple[str, ...], weights: np.ndarray) -> np.ndarray:
    """Ensemble point forecast (n, H): per horizon, Σ_c weights[h, c] · preds[c][:, h] over
    ``weighted_columns`` (the members, then the weekly naive)."""
    stack = np.stack([preds[m] for m in weighted_columns(members, weights)], axis=-1)  # (n, H, C)
    return np.einsum("nhm,hm->nh", stack, weights)


LOG_FLOOR = 1e-3  # z below this (a load ~0) is floored before the log


def model_track(track: Track, cfg: Config) -> Track:
    """The track the members read: log z when ``cfg.log_load`` (weather, holidays and level
    act on demand multiplicatively; in logs the lag model's linear corrections fit them)."""
    if not cfg.log_load:
        return track
    return replace(track, z=np.log(np.maximum(track.z, LOG_FLOOR)))


def from_model(pred: np.ndarray, cfg: Config) -> np.ndarray:
    """Member forecasts back to z units."""
    return np.exp(pred) if cfg.log_load else pred


@dataclass
class ForecastModel:
    cfg: Config
    lag: LagModel | None = None
    lstm: LSTMMember | None = None
    prophet: ProphetMember | None = None
    short: LagModel | None = None
    weights: np.ndarray | None = None  # (H, M + 1) over cfg.members, then the weekly naive
    bounds: np.ndarray | None = None  # (H, 2) conformal residual quantiles (z units)
    short_bounds: np.ndarray | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def member(self, name: str):
        return {"lag": self.lag, "lstm": self.lstm, "prophet": self.prophet, "short": self.short}[name]

    @property
    def min_history(self) -> int:
        """Steps of history the full ensemble needs (the origin is the last of them)."""
        return max(self.member(m).min_origin() for m in self.cfg.members) + 1

    @property
    def min_history_short(self) -> int:
        return self.short.min_origin() + 1

    def predict(self, track: Track, origins: np.ndarray, short: bool = False) -> Forecast:
        """Forecasts (z units) from each origin; `short` uses the one-day lag model only."""
        origins = np.asarray(origins, dtype=np.int64)
        raw, track = track, model_track(track, self.cfg)
        if short:
            point = from_model(self.short.predict(track, origins), self.cfg)
            lower, upper = point + self.short_bounds[:, 0], point + self.short_bounds[:, 1]
            return Forecast(self.cfg.horizons, {"short": point}, point, lower, upper)
        preds = {m: from_model(self.member(m).predict(track, origins), self.cfg) for m in self.cfg.members}
        preds[NAIVE] = SeasonalNaive(self.cfg).predict(raw, origins)
        point = combine(preds, self.cfg.members, self.weights)
        return Forecast(self.cfg.horizons, preds, point, point + self.bounds[:, 0], point + self.bounds[:, 1])
