"""The forecaster's configuration: resolution, horizons, seasons and member settings."""

from __future__ import annotations

from dataclasses import dataclass

MEMBERS = ("lag", "lstm", "prophet")


@dataclass
class Config:
    """Steps are the series' resolution (``step_minutes``); ``day``/``season`` in steps."""

    step_minutes: float
    horizons: list[int]  # steps ahead, 1..H
    day: int
    season: int
    level: float = 0.9  # central interval coverage
    alpha: float = 1e-3  # ridge
    seq_len: int = 0  # LSTM input length (default: one day)
    hidden: int = 24
    epochs: int = 40
    lr: float = 5e-3
    max_lstm_samples: int = 20000
    max_lag_samples: int = 30000  # per horizon (origins are thinned evenly above this)
    prophet_trend: bool = True  # extrapolate Prophet's trend (off for pooled, normalised meters)
    members: tuple[str, ...] = MEMBERS
    holiday_country: str = ""  # `holidays` country code (e.g. "DE"); "" = no holiday features
    holiday_region: str = ""  # subdivision (e.g. "BY"); "" = national holidays only
    yearly_order: int = 0  # Fourier pairs of the day of the year in the lag model (0 = none)
    log_load: bool = False  # members model log z (positive demand only; see ensemble.model_track)
    clean: bool = False  # replace spikes, dropouts to ~0 and missing steps (see features.clean)
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if not self.seq_len:
            self.seq_len = self.day

    @property
    def max_h(self) -> int:
        return max(self.horizons)
