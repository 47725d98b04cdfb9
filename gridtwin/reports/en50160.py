"""EN 50160 (LV supply) statistics over 10-min values, readings and voltage events: pure
functions on numpy arrays, no I/O.

What the standard asks (EN 50160:2010, clause 4, low-voltage supply), as used here:

* 4.2.2 supply voltage variations: 95 % of the 10-min mean RMS values of each week within
  Un ± 10 %, and all 10-min values within Un +10 % / −15 %.
* 4.2.1 power frequency (mean over 10 s): interconnected systems within ±1 % of nominal for
  99.5 % of a year and within +4 % / −6 % always; islanded systems ±2 % for 95 % of a week
  and ±15 % always. Bands are fractions of the meter's nominal (nothing assumes 50 Hz).
* 4.2.4 supply voltage unbalance: 95 % of the 10-min values of each week ≤ 2 % (VUF,
  IEC 61000-4-30 |U2|/|U1|).
* 4.2.5 harmonic voltage: 95 % of the 10-min values of each week THD ≤ 8 % (orders 2–40), only
  where THD is measured from a spectrum (an RMS-only estimate is not a measurement).
* 4.3 voltage events: dips (residual voltage < 90 % Un) and swells (> 110 % Un) counted in the
  standard's residual-voltage × duration tables (the classes of IEC 61000-4-30); a residual
  below 5 % Un is an interruption.

10-min values: the RMS of the readings in each interval (IEC 61000-4-30 interval
aggregation). A "week" is each consecutive 7-day window from the report's start (the last one
may be shorter: its fraction is reported over the time it covers). Frequency is judged on the
individual readings (the closest thing to the 10-s values the meter reports); with less than
a year of data the 99.5 % criterion is the fraction over the report period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridtwin.physics.en50160 import (
    EN50160_VUF_LIMIT_PCT,
    frequency_within_always_band,
    frequency_within_normal_band,
    voltage_within_10pct,
    voltage_within_plus10_minus15pct,
)

WEEK_S = 7 * 86_400
#: EN 50160 4.2.5: THD of the supply voltage (orders up to 40), 10-min values, 95 % of a week.
THD_LIMIT_PCT = 8.0
DIP_THRESHOLD = 0.90  # of Un: a dip starts below this (EN 50160 4.3; IEC 61000-4-30)
SWELL_THRESHOLD = 1.10  # of Un: a swell starts above this
INTERRUPTION_THRESHOLD = 0.05  # of Un: below this the event is an interruption

#: Dip table rows: residual voltage u in % of Un, [low, high) — 90>u≥80 … 5>u.
DIP_ROWS_PCT: tuple[tuple[float, float], ...] = ((80, 90), (70, 80), (40, 70), (5, 40), (0, 5))
#: Dip table columns: duration t in s, (low, high]; the first is 10 ms ≤ t ≤ 200 ms; the last
#: column (> 60 s) is beyond the table (a long-duration variation), counted so nothing is hidden.
DIP_COLUMNS_S: tuple[tuple[float, float], ...] = (
    (0.01, 0.2),
    (0.2, 0.5),
    (0.5, 1.0),
    (1.0, 5.0),
    (5.0, 60.0),
    (60.0, float("inf")),
)
#: Swell table rows: swell voltage u in % of Un — u ≥ 120, 120 > u > 110.
SWELL_ROWS_PCT: tuple[tuple[float, float], ...] = ((120, float("inf")), (110, 120))
#: Swell table columns: 10 ms ≤ t ≤ 500 ms, 500 ms < t ≤ 5 s, 5 s < t ≤ 60 s, (beyond: > 60 s).
SWELL_COLUMNS_S: tuple[tuple[float, float], ...] = (
    (0.01, 0.5),
    (0.5, 5.0),
    (5.0, 60.0),
    (60.0, float("inf")),
)


@dataclass(frozen=True)
class Criterion:
    """One EN 50160 requirement and its verdict."""

    key: str
    title: str
    clause: str
    requirement: str
    measured_pct: float | None  # share of values inside the band (worst week/phase), %
    required_pct: float
    verdict: str  # "pass" | "fail" | "not measured"
    detail: str = ""


@dataclass(frozen=True)
class WeekStats:
    start_s: float
    values: int  # 10-min values in the week
    voltage_within_10pct: float | None  # worst phase, % of the week's 10-min values
    vuf_within_pct: float | None
    thd_within_pct: float | None


@dataclass(frozen=True)
class VoltageEvent:
    kind: str  # "dip" | "swell" | "interruption"
    start_s: float
    duration_s: float
    extreme_pct: float  # residual (dip/interruption) or maximum (swell) voltage, % of Un
    readings: int


def ten_minute_rms(sum_sq: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """IEC 61000-4-30 10-min aggregation √(Σx²/n); NaN where n = 0."""
    s = np.asarray(sum_sq, dtype=float)
    k = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(k > 0, np.sqrt(s / np.where(k > 0, k, 1.0)), np.nan)


def _week_index(times_s: NDArray[np.float64], start_s: float) -> NDArray[np.int64]:
    return ((times_s - start_s) // WEEK_S).astype(np.int64)


def share_pct(mask: ArrayLike) -> float | None:
    """Percentage of True values; None for an empty array."""
    m = np.asarray(mask, dtype=bool)
    return float(100.0 * m.mean()) if m.size else None


def weekly_share_pct(times_s: ArrayLike, within: ArrayLike, start_s: float) -> dict[int, float]:
    """Per week index (7-day windows from `start_s`): % of values that are within."""
    t = np.asarray(times_s, dtype=float)
    w = np.asarray(within, dtype=bool)
    weeks = _week_index(t, start_s)
    return {int(k): float(100.0 * w[weeks == k].mean()) for k in np.unique(weeks)}


def voltage_within_by_phase(v10_v: ArrayLike, nominal_v: ArrayLike) -> NDArray[np.bool_]:
    """(n, 3) → (n, 3) within Un ± 10 % per phase (NaN = outside: a missing value is no pass)."""
    v = np.asarray(v10_v, dtype=float)
    un = np.asarray(nominal_v, dtype=float).reshape(-1, 1)
    return voltage_within_10pct(v, un) & np.isfinite(v)


def worst_phase_weekly_pct(
    times_s: ArrayLike, within_by_phase: ArrayLike, start_s: float
) -> dict[int, float]:
    """Per week: the lowest, over the three phases, % of 10-min values within the band."""
    w = np.asarray(within_by_phase, dtype=bool)
    per_phase = [weekly_share_pct(times_s, w[:, p], start_s) for p in range(w.shape[1])]
    return {k: min(pp[k] for pp in per_phase) for k in per_phase[0]}


def voltage_criteria(
    times_s: ArrayLike, v10_v: ArrayLike, nominal_v: ArrayLike, start_s: float
) -> list[Criterion]:
    """EN 50160 4.2.2 on (n, 3) 10-min RMS phase voltages."""
    v = np.asarray(v10_v, dtype=float)
    un = np.asarray(nominal_v, dtype=float).reshape(-1, 1)
    if v.size == 0:
        return [
            Criterion(
                "voltage_95",
                "Supply voltage, 95 % of each week",
                "4.2.2",
                "Un ± 10 %",
                None,
                95.0,
                "not measured",
            ),
            Criterion(
                "voltage_always",
                "Supply voltage, always",
                "4.2.2",
                "Un +10 % / −15 %",
                None,
                100.0,
                "not measured",
            ),
        ]
    weekly = worst_phase_weekly_pct(times_s, voltage_within_by_phase(v, un), start_s)
    worst = min(weekly.values())
    always = voltage_within_plus10_minus15pct(v, un) & np.isfinite(v)
    always_pct = float(100.0 * always.all(axis=1).mean())
    return [
        Criterion(
            "voltage_95",
            "Supply voltage, 95 % of each week",
            "4.2.2",
            "10-min RMS within Un ± 10 % for ≥ 95 % of each week (each phase)",
            worst,
            95.0,
            "pass" if worst >= 95.0 else "fail",
            f"worst week/phase {worst:.2f} % over {len(weekly)} week(s)",
        ),
        Criterion(
            "voltage_always",
            "Supply voltage, always",
            "4.2.2",
            "every 10-min RMS within Un +10 % / −15 %",
            always_pct,
            100.0,
            "pass" if always.all() else "fail",
            f"{int((~always.all(axis=1)).sum())} 10-min value(s) outside",
        ),
    ]


def frequency_criteria(
    frequency_hz: ArrayLike, nominal_hz: ArrayLike, islanded: bool = False
) -> list[Criterion]:
    """EN 50160 4.2.1 on frequency values (Hz) with the meter's nominal frequency."""
    f = np.asarray(frequency_hz, dtype=float)
    fn = np.broadcast_to(np.asarray(nominal_hz, dtype=float), f.shape)
    narrow_req = 95.0 if islanded else 99.5
    narrow_band = "±2 % (islanded), 95 % of a week" if islanded else "±1 % (interconnected), 99.5 % of a year"
    wide_band = "±15 % (islanded)" if islanded else "+4 % / −6 % (interconnected)"
    if f.size == 0:
        return [
            Criterion(
                "frequency_normal",
                "Frequency, normal band",
                "4.2.1",
                narrow_band,
                None,
                narrow_req,
                "not measured",
            ),
            Criterion(
                "frequency_always", "Frequency, always", "4.2.1", wide_band, None, 100.0, "not measured"
            ),
        ]
    narrow = frequency_within_normal_band(f, fn, islanded) & np.isfinite(f)
    wide = frequency_within_always_band(f, fn, islanded) & np.isfinite(f)
    narrow_pct, wide_pct = float(100 * narrow.mean()), float(100 * wide.mean())
    return [
        Criterion(
            "frequency_normal",
            "Frequency, normal band",
            "4.2.1",
            narrow_band,
            narrow_pct,
            narrow_req,
            "pass" if narrow_pct >= narrow_req else "fail",
            f"{int((~narrow).sum())} of {f.size} values outside",
        ),
        Criterion(
            "frequency_always",
            "Frequency, always",
            "4.2.1",
            wide_band,
            wide_pct,
            100.0,
            "pass" if wide.all() else "fail",
            f"{int((~wide).sum())} of {f.size} values outside",
        ),
    ]


def _weekly_limit_criterion(
    key: str,
    title: str,
    clause: str,
    limit: float,
    times_s: ArrayLike,
    values: ArrayLike,
    start_s: float,
    what: str,
) -> Criterion:
    t = np.asarray(times_s, dtype=float)
    x = np.asarray(values, dtype=float)
    measured = np.isfinite(x)
    requirement = f"10-min {what} ≤ {limit:g} % for ≥ 95 % of each week"
    if not measured.any():
        return Criterion(key, title, clause, requirement, None, 95.0, "not measured", f"no measured {what}")
    weekly = weekly_share_pct(t[measured], x[measured] <= limit, start_s)
    worst = min(weekly.values())
    return Criterion(
        key,
        title,
        clause,
        requirement,
        worst,
        95.0,
        "pass" if worst >= 95.0 else "fail",
        f"worst week {worst:.2f} % ({int(measured.sum())} measured 10-min values)",
    )


def unbalance_criterion(times_s: ArrayLike, vuf10_pct: ArrayLike, start_s: float) -> Criterion:
    """EN 50160 4.2.4: 10-min VUF ≤ 2 % for 95 % of each week (NaN = not measured)."""
    return _weekly_limit_criterion(
        "unbalance", "Voltage unbalance", "4.2.4", EN50160_VUF_LIMIT_PCT, times_s, vuf10_pct, start_s, "VUF"
    )


def thd_criterion(times_s: ArrayLike, thd10_pct: ArrayLike, start_s: float) -> Criterion:
    """EN 50160 4.2.5: 10-min THD ≤ 8 % for 95 % of each week, where measured (NaN = not)."""
    return _weekly_limit_criterion(
        "thd", "Voltage THD", "4.2.5", THD_LIMIT_PCT, times_s, thd10_pct, start_s, "THD"
    )


def voltage_events(
    times_s: ArrayLike,
    min_phase_v: ArrayLike,
    max_phase_v: ArrayLike,
    nominal_v: ArrayLike,
    interval_s: float,
) -> list[VoltageEvent]:
    """Dips, interruptions and swells from consecutive readings (IEC 61000-4-30 polyphase
    rule: an event starts when any phase crosses the threshold and ends when all are back).

    With RMS readings every `interval_s` seconds an event's duration is known only to that
    resolution: it is taken as (readings in the event) × interval, and a single reading
    counts as one interval. Readings further apart than 1.5 intervals end an event.
    """
    t = np.asarray(times_s, dtype=float)
    lo = np.asarray(min_phase_v, dtype=float) / np.asarray(nominal_v, dtype=float)
    hi = np.asarray(max_phase_v, dtype=float) / np.asarray(nominal_v, dtype=float)
    events: list[VoltageEvent] = []
    for kind, flags, extreme in (
        ("dip", lo < DIP_THRESHOLD, lo),
        ("swell", hi > SWELL_THRESHOLD, hi),
    ):
        k = 0
        while k < len(t):
            if not flags[k]:
                k += 1
                continue
            j = k
            while j + 1 < len(t) and flags[j + 1] and t[j + 1] - t[j] <= 1.5 * interval_s:
                j += 1
            value = float((extreme[k : j + 1].min() if kind == "dip" else extreme[k : j + 1].max()) * 100.0)
            label = "interruption" if kind == "dip" and value < INTERRUPTION_THRESHOLD * 100 else kind
            events.append(VoltageEvent(label, float(t[k]), (j - k + 1) * interval_s, value, j - k + 1))
            k = j + 1
    return sorted(events, key=lambda e: e.start_s)


def _cell(value: float, bands: tuple[tuple[float, float], ...], upper_closed: bool) -> int | None:
    for i, (low, high) in enumerate(bands):
        if (low < value <= high) if upper_closed else (low <= value < high):
            return i
    return None


def dip_table(events: list[VoltageEvent]) -> NDArray[np.int64]:
    """Counts of dips and interruptions: rows `DIP_ROWS_PCT` (residual voltage, % Un), columns
    `DIP_COLUMNS_S` (duration; the last column is beyond the standard's 60 s)."""
    table = np.zeros((len(DIP_ROWS_PCT), len(DIP_COLUMNS_S)), dtype=np.int64)
    for e in events:
        if e.kind not in ("dip", "interruption"):
            continue
        row = _cell(e.extreme_pct, DIP_ROWS_PCT, upper_closed=False)
        col = 0 if 0.01 <= e.duration_s <= 0.2 else _cell(e.duration_s, DIP_COLUMNS_S, upper_closed=True)
        if row is not None and col is not None:
            table[row, col] += 1
    return table


def swell_table(events: list[VoltageEvent]) -> NDArray[np.int64]:
    """Counts of swells: rows `SWELL_ROWS_PCT` (u ≥ 120 %, 120 > u > 110 %), columns
    `SWELL_COLUMNS_S` (the last column is beyond the standard's 60 s)."""
    table = np.zeros((len(SWELL_ROWS_PCT), len(SWELL_COLUMNS_S)), dtype=np.int64)
    for e in events:
        if e.kind != "swell":
            continue
        row = 0 if e.extreme_pct >= 120 else 1
        col = 0 if 0.01 <= e.duration_s <= 0.5 else _cell(e.duration_s, SWELL_COLUMNS_S, upper_closed=True)
        if col is not None:
            table[row, col] += 1
    return table


def weekly_stats(
    times_s: ArrayLike,
    v10_v: ArrayLike,
    nominal_v: ArrayLike,
    vuf10: ArrayLike,
    thd10: ArrayLike,
    start_s: float,
) -> list[WeekStats]:
    t = np.asarray(times_s, dtype=float)
    if t.size == 0:
        return []
    within = voltage_within_by_phase(v10_v, nominal_v)
    vuf = np.asarray(vuf10, dtype=float)
    thd = np.asarray(thd10, dtype=float)
    weeks = _week_index(t, start_s)
    out = []
    for k in np.unique(weeks):
        sel = weeks == k
        vuf_k, thd_k = vuf[sel], thd[sel]
        out.append(
            WeekStats(
                start_s + int(k) * WEEK_S,
                int(sel.sum()),
                min(float(100 * within[sel, p].mean()) for p in range(3)),
                share_pct(vuf_k[np.isfinite(vuf_k)] <= EN50160_VUF_LIMIT_PCT),
                share_pct(thd_k[np.isfinite(thd_k)] <= THD_LIMIT_PCT),
            )
        )
    return out
