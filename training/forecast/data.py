"""Load series: a user CSV at any regular resolution (1 min – 1 h), or the England & Wales
half-hourly demand (Taylor 2003) with its protocol split.

A :class:`LoadSeries` is a regular UTC grid of values with a `filled` flag for every step that
was missing in the source and filled here. Local timestamps are converted to UTC (DST: the
repeated autumn hour is resolved by order of appearance, the missing spring hour cannot occur
in valid data); the calendar features use the local zone when one is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from gridtwin.forecast.config import Config
from gridtwin.forecast.features import clean, fill_gaps
from gridtwin.forecast.track import Track, robust_scale

MIN_STEP = pd.Timedelta(minutes=1)
MAX_STEP = pd.Timedelta(hours=1)
TAYLOR_START = "2000-06-05 00:00"
TAYLOR_TZ = "Europe/London"
TAYLOR_FIT_STEPS = 8 * 7 * 48  # 8 weeks of half-hours
TAYLOR_TEST_STEPS = 4 * 7 * 48  # 4 weeks


@dataclass
class LoadSeries:
    """A regular load series: `values[i]` is the mean load over [start + i·step, + step)
    (or the instantaneous load at that time, whatever the source measured)."""

    values: np.ndarray
    start: pd.Timestamp  # UTC
    step: pd.Timedelta
    filled: np.ndarray = field(default=None)  # type: ignore[assignment]
    name: str = "load"
    tz: str | None = None  # local zone of the calendar (None: UTC)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=float)
        if self.filled is None:
            self.filled = np.zeros(len(self.values), dtype=bool)
        self.start = pd.Timestamp(self.start)
        self.start = (
            self.start.tz_localize("UTC") if self.start.tzinfo is None else self.start.tz_convert("UTC")
        )
        self.step = pd.Timedelta(self.step)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def steps_per_day(self) -> int:
        return steps_per_day(self.step)

    @property
    def index(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, periods=len(self), freq=self.step, tz="UTC")

    @property
    def series(self) -> pd.Series:
        """The values as a pandas Series with a UTC DatetimeIndex."""
        return pd.Series(self.values, index=self.index, name=self.name)

    def times(self, n_total: int | None = None) -> pd.DatetimeIndex:
        n = len(self) if n_total is None else n_total
        return pd.date_range(self.start, periods=n, freq=self.step, tz="UTC")

    def calendar(self, n_total: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(slot of day, day of week Monday=0) in local time for steps 0..n_total-1."""
        return calendar(self.times(n_total), self.step, self.tz)

    def slice(self, a: int | None, b: int | None) -> LoadSeries:
        sl = slice(a, b)
        first = 0 if a is None else (a if a >= 0 else len(self) + a)
        return replace(
            self,
            values=self.values[sl].copy(),
            filled=self.filled[sl].copy(),
            start=self.start + first * self.step,
        )

    def resample(self, step: pd.Timedelta | str) -> LoadSeries:
        """Means over a coarser step (a whole multiple of the current one)."""
        step = pd.Timedelta(step)
        k = int(step / self.step)
        if k * self.step != step or k < 1:
            raise ValueError(f"{step} is not a multiple of {self.step}")
        if k == 1:
            return self
        # align the first bucket to the new grid (midnight UTC based)
        offset = int((-(self.start.value) % step.value) // self.step.value)
        v, f = self.values[offset:], self.filled[offset:]
        n = len(v) // k
        return replace(
            self,
            values=v[: n * k].reshape(n, k).mean(axis=1),
            filled=f[: n * k].reshape(n, k).any(axis=1),
            start=self.start + offset * self.step,
            step=step,
        )


def steps_per_day(step: pd.Timedelta) -> int:
    d = pd.Timedelta(days=1) / pd.Timedelta(step)
    if abs(d - round(d)) > 1e-9:
        raise ValueError(f"resolution {step} does not divide a day")
    return int(round(d))


def calendar(
    times: pd.DatetimeIndex, step: pd.Timedelta, tz: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Slot of the day (0..steps_per_day-1) and day of week (Monday = 0), in local time."""
    local = times.tz_convert(tz) if tz else times
    minutes = local.hour * 60 + local.minute + local.second / 60.0
    step_min = pd.Timedelta(step).total_seconds() / 60.0
    d = steps_per_day(step)
    slot = np.clip(np.floor(np.asarray(minutes) / step_min + 1e-9).astype(int), 0, d - 1)
    return slot, np.asarray(local.dayofweek, dtype=int)


def infer_resolution(times: pd.DatetimeIndex | pd.Series) -> pd.Timedelta:
    """The series' step: the most common positive spacing, between 1 min and 1 h."""
    t = pd.DatetimeIndex(times).sort_values()
    if len(t) < 3:
        raise ValueError("need at least 3 timestamps to infer the resolution")
    diffs = np.diff(t.asi8)
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise ValueError("all timestamps are equal")
    values, counts = np.unique(diffs, return_counts=True)
    step = pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")
    step = step.round("1s")
    if not (MIN_STEP <= step <= MAX_STEP):
        raise ValueError(f"resolution {step} outside the supported 1 min – 1 h")
    steps_per_day(step)
    return step


def _to_utc(raw: pd.Series, tz: str | None) -> pd.DatetimeIndex:
    """Timestamps to UTC. Strings with offsets keep them; naive times are local to `tz`
    (UTC when tz is None). The repeated autumn hour is resolved by order of appearance
    (first = summer time)."""
    text = raw.astype(str).str.strip()
    has_offset = bool(text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).any())
    parsed = pd.to_datetime(text, utc=has_offset, format="ISO8601")
    idx = pd.DatetimeIndex(parsed)
    if idx.tz is not None:
        return idx.tz_convert("UTC")
    if tz is None:
        return idx.tz_localize("UTC")
    ambiguous = ~pd.Series(idx).duplicated(keep="first").to_numpy()
    return idx.tz_localize(tz, ambiguous=ambiguous, nonexistent="shift_forward").tz_convert("UTC")


def regularize(
    times: pd.DatetimeIndex,
    values: np.ndarray,
    step: pd.Timedelta | None = None,
    max_interpolate: pd.Timedelta = pd.Timedelta(hours=1),
    name: str = "load",
    tz: str | None = None,
) -> LoadSeries:
    """Put (times, values) on a regular UTC grid; fill and flag gaps.

    Duplicate or off-grid timestamps are averaged into the nearest grid step. Gaps up to
    `max_interpolate` are interpolated linearly; longer gaps take the value one week earlier
    (one day earlier when there is no week of history, else linear interpolation). Every
    filled step is flagged in `filled`.
    """
    times = pd.DatetimeIndex(times)
    order = np.argsort(times.asi8, kind="stable")
    times, values = times[order], np.asarray(values, dtype=float)[order]
    step = pd.Timedelta(step) if step is not None else infer_resolution(times)
    t0 = times[0]
    pos = np.rint((times.asi8 - t0.value) / step.value).astype(np.int64)
    n = int(pos[-1]) + 1
    sums = np.bincount(pos, weights=np.nan_to_num(values), minlength=n)
    counts = np.bincount(pos, weights=np.isfinite(values).astype(float), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        grid = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    missing = ~np.isfinite(grid)
    filled = fill_gaps(grid, steps_per_day(step), max(1, int(max_interpolate / step)))
    return LoadSeries(values=filled, start=t0, step=step, filled=missing, name=name, tz=tz)


def load_csv(
    path: str | Path,
    timestamp_col: str | None = None,
    load_col: str | None = None,
    tz: str | None = None,
    max_interpolate: pd.Timedelta | str = "1h",
) -> LoadSeries:
    """A load series from a CSV with a timestamp column and a load column.

    Defaults: the timestamp column is the first one named timestamp/time/datetime/ds/date
    (else the first column); the load column is the first numeric column other than it.
    `tz` names the zone of naive local timestamps (e.g. "Europe/London"); they are converted
    to UTC and the calendar uses local time.
    """
    frame = pd.read_csv(path)
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    if timestamp_col is None:
        lowered = {c.lower(): c for c in frame.columns}
        timestamp_col = next(
            (lowered[k] for k in ("timestamp", "time", "datetime", "ds", "date") if k in lowered),
            frame.columns[0],
        )
    if timestamp_col not in frame.columns:
        raise ValueError(f"{path}: no timestamp column {timestamp_col!r} (columns: {list(frame.columns)})")
    if load_col is None:
        numeric = [c for c in frame.columns if c != timestamp_col and pd.api.types.is_numeric_dtype(frame[c])]
        if not numeric:
            raise ValueError(f"{path}: no numeric load column")
        load_col = numeric[0]
    if load_col not in frame.columns:
        raise ValueError(f"{path}: no load column {load_col!r} (columns: {list(frame.columns)})")
    times = _to_utc(frame[timestamp_col], tz)
    values = pd.to_numeric(frame[load_col], errors="coerce").to_numpy(dtype=float)
    return regularize(times, values, max_interpolate=pd.Timedelta(max_interpolate), name=str(load_col), tz=tz)


def load_taylor() -> LoadSeries:
    """England & Wales half-hourly demand (MW), 5 Jun – 27 Aug 2000, 4,032 points
    (pmdarima.datasets.load_taylor), on a UTC index with the London calendar."""
    from pmdarima.datasets import load_taylor as _load

    y = np.asarray(_load(as_series=False), dtype=float)
    start = pd.Timestamp(TAYLOR_START).tz_localize(TAYLOR_TZ).tz_convert("UTC")
    return LoadSeries(
        values=y, start=start, step=pd.Timedelta(minutes=30), name="england_wales_mw", tz=TAYLOR_TZ
    )


def taylor_split(series: LoadSeries | None = None) -> tuple[LoadSeries, LoadSeries]:
    """Taylor (2003) protocol: fit on the first 8 weeks, test on the last 4."""
    s = series if series is not None else load_taylor()
    if len(s) != TAYLOR_FIT_STEPS + TAYLOR_TEST_STEPS:
        raise ValueError(f"expected {TAYLOR_FIT_STEPS + TAYLOR_TEST_STEPS} points, got {len(s)}")
    return s.slice(0, TAYLOR_FIT_STEPS), s.slice(TAYLOR_FIT_STEPS, None)


def make_track(
    series: LoadSeries,
    extra: int,
    scale: float | None = None,
    cfg: Config | None = None,
    sigma_steps: int | None = None,
) -> Track:
    """`series` normalised by `scale` (default: its robust scale), calendar `extra` steps ahead.

    With a `cfg`: its holiday calendar and day of the year go on the track, and (cfg.clean) the
    values are cleaned causally first (the spike σ from the first `sigma_steps` values)."""
    values = series.values
    if cfg is not None and cfg.clean:
        values, _ = clean(values, cfg.day, cfg.season, sigma_steps)
    scale = robust_scale(values) if scale is None else scale
    slot, dow = series.calendar(len(series) + extra)
    track = Track(
        z=values / scale,
        slot=slot,
        dow=dow,
        abs0=int(series.start.value // series.step.value),
        scale=scale,
        name=series.name,
    )
    if cfg is not None and (cfg.holiday_country or cfg.yearly_order):
        local = series.times(len(series) + extra)
        local = local.tz_convert(series.tz) if series.tz else local
        track.doy = np.asarray(local.dayofyear - 1 + (local.hour + local.minute / 60) / 24, dtype=float)
        if cfg.holiday_country:
            track.holiday = holiday_flags(local, cfg.holiday_country, cfg.holiday_region)
    return track


def holiday_flags(local: pd.DatetimeIndex, country: str, region: str = "") -> np.ndarray:
    """1 where the local date is a public holiday of `country` (and `region`), by the
    `holidays` package."""
    import holidays

    years = sorted(set(local.year))
    try:
        cal = holidays.country_holidays(country, subdiv=region or None, years=years)
    except NotImplementedError as exc:  # unknown country or region
        raise ValueError(f"no holiday calendar for country {country!r} region {region!r}: {exc}") from exc
    dates = np.array(sorted(cal.keys()), dtype="datetime64[D]")
    return np.isin(local.tz_localize(None).to_numpy().astype("datetime64[D]"), dates).astype(np.int8)
