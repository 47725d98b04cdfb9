"""The forecaster's members at inference (fitting lives in ``training/forecast/members.py``).

Each member predicts all horizons at once from an origin, in units of the series' scale:

* ``naive``   – weekly seasonal naive z[tau - week] (the baseline);
* ``lag``     – direct ridge regression per horizon on seasonal lags, recent seasonal
  deviations and the target's calendar (double-seasonal "AR on seasonal differences");
* ``lstm``    – a small LSTM over the last day (seasonal deviations, level, slot of day) with
  a linear head that also sees the target slots' lags; trained with Keras, run by ONNX
  Runtime (graph inputs ``seq`` (n, seq_len, 5) and ``head`` (n, 2·H), float32);
* ``prophet`` – Prophet's mean forecast exported as trend level + slope + a (day-of-week ×
  slot) table of the seasonal components, so it runs without prophet.
"""

from __future__ import annotations

import numpy as np

from gridtwin.forecast import features as F
from gridtwin.forecast.calendar_features import extra_features, extra_min_origin
from gridtwin.forecast.config import Config
from gridtwin.forecast.track import Track
from gridtwin.serving.runtime import OnnxModel

LSTM_CHUNK = 4096  # origins per ONNX call (bounds the (n, seq_len, 5) input's memory)


class SeasonalNaive:
    def __init__(self, cfg: Config, season: int | None = None) -> None:
        self.cfg, self.season = cfg, season or cfg.season

    def min_origin(self) -> int:
        return max(F.lag_steps(h, self.season) - h for h in self.cfg.horizons)

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [F.seasonal_naive(track.z, origins, h, self.season) for h in self.cfg.horizons]
        )


class LagModel:
    """Direct ridge per horizon: z[tau] - seasonal naive ~ lag features."""

    def __init__(self, cfg: Config, season: int | None = None) -> None:
        self.cfg, self.season = cfg, season or cfg.season
        self.coef: np.ndarray | None = None  # (H, F)
        self.intercept: np.ndarray | None = None  # (H,)

    def min_origin(self) -> int:
        c = self.cfg
        extra = extra_min_origin(c.horizons, c.day, self.season, bool(c.holiday_country))
        return max(F.min_origin(c.horizons, c.day, self.season), extra)

    def features(self, track: Track, origins: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Lag features (plus holiday and yearly columns when configured) and the naive base."""
        c = self.cfg
        x, base = F.lag_features(track.z, track.slot, track.dow, origins, h, c.day, self.season)
        if c.holiday_country or c.yearly_order:
            if c.holiday_country and track.holiday is None:
                raise ValueError("this lag model uses holidays: the track needs its holiday calendar")
            hol = track.holiday if c.holiday_country else None
            more = extra_features(
                track.z,
                track.dow,
                hol,
                track.doy,
                np.asarray(origins),
                h,
                c.day,
                self.season,
                base,
                c.yearly_order,
            )
            x = np.hstack([x, more])
        return x, base

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        out = np.empty((len(origins), len(self.cfg.horizons)))
        for j, h in enumerate(self.cfg.horizons):
            x, base = self.features(track, origins, h)
            out[:, j] = base + x @ self.coef[j] + self.intercept[j]
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}coef": self.coef, f"{prefix}intercept": self.intercept}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> LagModel:
        self.coef, self.intercept = arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"]
        return self


class LSTMMember:
    """The LSTM's ONNX graph plus the standardisation of its inputs and output.

    ``scaling``: ``s_mu``/``s_sd`` (5,) of the sequence channels, ``h_sd`` (2·H,) of the head
    inputs, ``y_sd`` (1,) of the target (deviation from the seasonal naive, z units).
    """

    SCALING = ("s_mu", "s_sd", "h_sd", "y_sd")

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.scaling: dict[str, np.ndarray] = {}
        self.onnx: bytes = b""
        self.net: OnnxModel | None = None

    def set_graph(self, onnx: bytes, scaling: dict[str, np.ndarray]) -> LSTMMember:
        self.onnx, self.scaling = onnx, {k: np.asarray(scaling[k], float) for k in self.SCALING}
        self.net = OnnxModel(onnx)
        return self

    def min_origin(self) -> int:
        return F.lstm_min_origin(self.cfg.horizons, self.cfg.seq_len, self.cfg.day, self.cfg.season)

    def inputs(self, track: Track, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw (unstandardised) sequence and head inputs and the seasonal naive base."""
        c = self.cfg
        seq = F.sequence_inputs(track.z, track.slot, origins, c.seq_len, c.day, c.season)
        head = F.head_inputs(track.z, origins, c.horizons, c.day, c.season)
        base = np.column_stack([F.seasonal_naive(track.z, origins, h, c.season) for h in c.horizons])
        return seq, head, base

    def network_inputs(self, seq: np.ndarray, head: np.ndarray) -> dict[str, np.ndarray]:
        """The graph's standardised float32 inputs."""
        s = self.scaling
        return {
            "seq": ((seq - s["s_mu"]) / s["s_sd"]).astype(np.float32),
            "head": (head / s["h_sd"]).astype(np.float32),
        }

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        seq, head, base = self.inputs(track, origins)
        out = np.empty((len(origins), len(self.cfg.horizons)))
        for i in range(0, len(origins), LSTM_CHUNK):
            feeds = self.network_inputs(seq[i : i + LSTM_CHUNK], head[i : i + LSTM_CHUNK])
            out[i : i + LSTM_CHUNK] = self.net.run_one(feeds)
        return base + out * self.scaling["y_sd"][0]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": v for k, v in self.scaling.items()}

    def load(self, arrays: dict[str, np.ndarray], prefix: str, onnx: bytes) -> LSTMMember:
        return self.set_graph(onnx, {k: arrays[f"{prefix}{k}"] for k in self.SCALING})


class ProphetMember:
    """Prophet's mean forecast as trend(t) + table[day of week, slot] (z units)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.table: np.ndarray | None = None  # (7, day)
        self.trend = np.zeros(3)  # (absolute step of the reference, level there, slope per step)

    def min_origin(self) -> int:
        return 0

    def value_at(self, track: Track, idx: np.ndarray) -> np.ndarray:
        ref, level, slope = self.trend
        return level + slope * (track.abs0 + idx - ref) + self.table[track.dow[idx], track.slot[idx]]

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        t = np.asarray(origins, dtype=np.int64)
        return np.column_stack([self.value_at(track, t + h) for h in self.cfg.horizons])

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}table": self.table, f"{prefix}trend": self.trend}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> ProphetMember:
        self.table, self.trend = arrays[f"{prefix}table"], arrays[f"{prefix}trend"]
        return self
