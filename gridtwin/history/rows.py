"""One stream entry (reading + assessment) → the rows of the history tables (pure functions)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gridtwin.history.schema import AGGREGATE_INTERVAL_US
from gridtwin.v1 import assessment_pb2, reading_pb2

PHASES = "abc"


@dataclass(frozen=True)
class HistoryItem:
    """What the gateway puts on the stream for one accepted assessment."""

    stream_id: str
    reading: reading_pb2.Reading
    assessment: assessment_pb2.Assessment
    key: tuple[str, int] = field(init=False)  # (meter_id, time_us): the idempotency key

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.reading.meter_id, time_us(self.reading)))


def time_us(message: Any) -> int:
    """A message's `timestamp` in microseconds since the Unix epoch (UTC)."""
    return message.timestamp.seconds * 1_000_000 + message.timestamp.nanos // 1_000


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _answered(info: assessment_pb2.ModelInfo) -> bool:
    return info.status in (assessment_pb2.OK, assessment_pb2.DEGRADED)


def vuf_pct(assessment: assessment_pb2.Assessment) -> float | None:
    """VUF (IEC 61000-4-30 |U2|/|U1|, %) when the phase_imbalance model answered."""
    pi = assessment.phase_imbalance
    return _finite(pi.vuf_pct) if _answered(pi.info) else None


def measured_thd_pct(assessment: assessment_pb2.Assessment) -> float | None:
    """Voltage THD (IEC 61000-4-7, %) only when measured from a spectrum, never the RMS estimate."""
    ha = assessment.harmonic_analysis
    if not _answered(ha.info) or ha.thd_is_estimate:
        return None
    return _finite(ha.thd_voltage_pct)


def total_ms(assessment: assessment_pb2.Assessment) -> float | None:
    for timing in assessment.timings:
        if timing.stage == "total":
            return timing.duration_ms
    return None


def reading_row(item: HistoryItem) -> dict[str, Any]:
    r = item.reading
    row: dict[str, Any] = {"meter_id": item.key[0], "time_us": item.key[1]}
    for quantity, unit in (
        ("voltage", "v"),
        ("current", "a"),
        ("active_power", "w"),
        ("reactive_power", "var"),
    ):
        values = getattr(r, quantity)
        for p in PHASES:
            row[f"{quantity}_{p}_{unit}"] = _finite(getattr(values, p))
    row["frequency_hz"] = _finite(r.frequency)
    row["nominal_voltage_v"] = r.nominal_voltage if r.HasField("nominal_voltage") else None
    row["nominal_frequency_hz"] = r.nominal_frequency if r.HasField("nominal_frequency") else None
    row["reading"] = r.SerializeToString()
    return row


def assessment_row(item: HistoryItem) -> dict[str, Any]:
    a = item.assessment
    return {
        "meter_id": item.key[0],
        "time_us": item.key[1],
        "stream_id": item.stream_id,
        "severity": int(a.severity),
        "vuf_pct": vuf_pct(a),
        "thd_pct": measured_thd_pct(a),
        "total_ms": total_ms(a),
        "assessment": a.SerializeToString(),
    }


def bucket_of(t_us: int) -> int:
    return (t_us // AGGREGATE_INTERVAL_US) * AGGREGATE_INTERVAL_US


def aggregate_deltas(items: Iterable[HistoryItem]) -> list[dict[str, Any]]:
    """The additions to `aggregates_10min` made by these (new) items, one row per
    (meter, 10-min interval). Readings without a finite voltage or frequency are skipped."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for item in items:
        r = item.reading
        v = [getattr(r.voltage, p) for p in PHASES]
        if not all(math.isfinite(x) for x in [*v, r.frequency]):
            continue
        key = (item.key[0], bucket_of(item.key[1]))
        row = out.get(key)
        if row is None:
            row = out[key] = {
                "meter_id": key[0],
                "bucket_us": key[1],
                "n": 0,
                "nominal_voltage_v": None,
                "nominal_frequency_hz": None,
                **{f"sum_v_{p}": 0.0 for p in PHASES},
                **{f"sumsq_v_{p}": 0.0 for p in PHASES},
                "min_v": math.inf,
                "max_v": -math.inf,
                "sum_f": 0.0,
                "min_f": math.inf,
                "max_f": -math.inf,
                "n_vuf": 0,
                "sumsq_vuf": 0.0,
                "n_thd": 0,
                "sumsq_thd": 0.0,
            }
        row["n"] += 1
        if r.HasField("nominal_voltage"):
            row["nominal_voltage_v"] = r.nominal_voltage
        if r.HasField("nominal_frequency"):
            row["nominal_frequency_hz"] = r.nominal_frequency
        for p, x in zip(PHASES, v, strict=True):
            row[f"sum_v_{p}"] += x
            row[f"sumsq_v_{p}"] += x * x
        row["min_v"] = min(row["min_v"], *v)
        row["max_v"] = max(row["max_v"], *v)
        row["sum_f"] += r.frequency
        row["min_f"] = min(row["min_f"], r.frequency)
        row["max_f"] = max(row["max_f"], r.frequency)
        vuf = vuf_pct(item.assessment)
        if vuf is not None:
            row["n_vuf"] += 1
            row["sumsq_vuf"] += vuf * vuf
        thd = measured_thd_pct(item.assessment)
        if thd is not None:
            row["n_thd"] += 1
            row["sumsq_thd"] += thd * thd
    return list(out.values())


def meter_deltas(items: Iterable[HistoryItem]) -> list[dict[str, Any]]:
    """The additions to `meters` made by these (new) items, one row per meter."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        meter, t = item.key
        row = out.get(meter)
        if row is None:
            row = out[meter] = {
                "meter_id": meter,
                "first_us": t,
                "last_us": t,
                "readings": 0,
                "last_severity": int(item.assessment.severity),
                "last_reading": item.reading.SerializeToString(),
            }
        row["readings"] += 1
        row["first_us"] = min(row["first_us"], t)
        if t >= row["last_us"]:
            row["last_us"] = t
            row["last_severity"] = int(item.assessment.severity)
            row["last_reading"] = item.reading.SerializeToString()
    return list(out.values())
