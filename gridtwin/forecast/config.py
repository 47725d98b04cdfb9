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
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if not self.seq_len:
            self.seq_len = self.day

    @property
    def max_h(self) -> int:
        return max(self.horizons)
