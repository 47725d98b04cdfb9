"""The EN 50160 compliance report of one meter over a period, built from the history
database (10-min aggregates for voltage, unbalance and THD; readings for frequency and
events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridtwin.history.repository import Repository
from gridtwin.reports import en50160 as en


@dataclass
class En50160Report:
    meter_id: str
    start: datetime
    end: datetime
    nominal_voltage_v: float | None
    nominal_frequency_hz: float | None
    islanded: bool
    criteria: list[en.Criterion]
    weeks: list[en.WeekStats]
    events: list[en.VoltageEvent]
    dips: NDArray[np.int64]
    swells: NDArray[np.int64]
    reading_interval_s: float | None
    # 10-min series for the plots: interval start (s), RMS voltage per phase (n, 3) in V
    ten_min_s: NDArray[np.float64] = field(repr=False)
    ten_min_v: NDArray[np.float64] = field(repr=False)
    ten_min_vuf_pct: NDArray[np.float64] = field(repr=False)
    ten_min_thd_pct: NDArray[np.float64] = field(repr=False)
    rows: list[dict[str, Any]] = field(repr=False)  # raw readings + assessment columns, for the CSV

    @property
    def verdict(self) -> str:
        """ "fail" if any measured criterion fails, else "pass" (criteria not measured are listed)."""
        verdicts = {c.verdict for c in self.criteria}
        if "fail" in verdicts:
            return "fail"
        return "pass" if "pass" in verdicts else "not measured"


def _us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def _nominal(values: list[float | None], override: float | None) -> float | None:
    if override is not None:
        return override
    known = [v for v in values if v]
    if not known:
        return None
    vals, counts = np.unique(np.asarray(known, dtype=float), return_counts=True)
    return float(vals[np.argmax(counts)])


def build_en50160(
    repo: Repository,
    meter_id: str,
    start: datetime,
    end: datetime,
    *,
    islanded: bool = False,
    nominal_voltage_v: float | None = None,
    nominal_frequency_hz: float | None = None,
) -> En50160Report:
    """EN 50160 statistics of `meter_id` over [start, end) (timezone-aware datetimes)."""
    start_us, end_us = _us(start), _us(end)
    aggs = repo.aggregates(meter_id, start_us, end_us)
    rows = repo.assessment_rows(meter_id, start_us, end_us)
    un = _nominal([a["nominal_voltage_v"] for a in aggs], nominal_voltage_v)
    fn = _nominal([r["nominal_frequency_hz"] for r in rows], nominal_frequency_hz)
    start_s = start_us / 1e6

    t10 = np.array([a["bucket_us"] / 1e6 for a in aggs], dtype=float)
    n = np.array([a["n"] for a in aggs], dtype=float)
    v10 = np.stack([en.ten_minute_rms([a[f"sumsq_v_{p}"] for a in aggs], n) for p in "abc"], axis=1).reshape(
        -1, 3
    )
    vuf10 = en.ten_minute_rms([a["sumsq_vuf"] for a in aggs], [a["n_vuf"] for a in aggs])
    thd10 = en.ten_minute_rms([a["sumsq_thd"] for a in aggs], [a["n_thd"] for a in aggs])

    criteria: list[en.Criterion] = []
    if un is not None:
        criteria += en.voltage_criteria(t10, v10, np.full(len(t10), un), start_s)
    else:
        criteria += en.voltage_criteria([], np.empty((0, 3)), [], start_s)
    freq = np.array([r["frequency_hz"] for r in rows if r["frequency_hz"] is not None], dtype=float)
    criteria += en.frequency_criteria(freq if fn is not None else [], fn or 1.0, islanded)
    criteria.append(en.unbalance_criterion(t10, vuf10, start_s))
    criteria.append(en.thd_criterion(t10, thd10, start_s))

    times = np.array([r["time_us"] / 1e6 for r in rows], dtype=float)
    interval = float(np.median(np.diff(times))) if len(times) > 1 else None
    events: list[en.VoltageEvent] = []
    if un is not None and interval:
        volts = np.array([[r[f"voltage_{p}_v"] for p in "abc"] for r in rows], dtype=float)
        events = en.voltage_events(times, volts.min(axis=1), volts.max(axis=1), un, interval)
    return En50160Report(
        meter_id=meter_id,
        start=start,
        end=end,
        nominal_voltage_v=un,
        nominal_frequency_hz=fn,
        islanded=islanded,
        criteria=criteria,
        weeks=en.weekly_stats(t10, v10, np.full(len(t10), un or np.nan), vuf10, thd10, start_s),
        events=events,
        dips=en.dip_table(events),
        swells=en.swell_table(events),
        reading_interval_s=interval,
        ten_min_s=t10,
        ten_min_v=v10,
        ten_min_vuf_pct=vuf10,
        ten_min_thd_pct=thd10,
        rows=rows,
    )


def build_feeder(
    repo: Repository, prefix: str, start: datetime, end: datetime, **kwargs: Any
) -> list[En50160Report]:
    """One report per meter whose id starts with `prefix` (a feeder's meters)."""
    meters = [m.meter_id for m in repo.list_meters(prefix=prefix, limit=100_000)]
    return [build_en50160(repo, m, start, end, **kwargs) for m in meters]
