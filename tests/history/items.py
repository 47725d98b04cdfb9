"""Readings and assessments for history tests (built by hand, no mesh)."""

from __future__ import annotations

from gridtwin.history.rows import HistoryItem
from gridtwin.v1 import assessment_pb2, reading_pb2

T0_S = 1_764_460_800  # 2025-11-30 00:00:00 UTC


def item(
    meter: str, t_s: int, v: tuple[float, float, float] = (230.0, 231.0, 229.0), f: float = 50.0, **kw: float
) -> HistoryItem:
    reading = reading_pb2.Reading(meter_id=meter, frequency=f, nominal_voltage=230.0, nominal_frequency=50.0)
    reading.timestamp.seconds = t_s
    reading.voltage.a, reading.voltage.b, reading.voltage.c = v
    reading.current.a = reading.current.b = reading.current.c = 10.0
    assessment = assessment_pb2.Assessment(meter_id=meter, timestamp=reading.timestamp)
    assessment.status.code = 0
    assessment.severity = int(kw.get("severity", assessment_pb2.NORMAL))
    if "vuf" in kw:
        assessment.phase_imbalance.info.status = assessment_pb2.OK
        assessment.phase_imbalance.vuf_pct = kw["vuf"]
    if "thd" in kw:
        assessment.harmonic_analysis.info.status = assessment_pb2.OK
        assessment.harmonic_analysis.thd_voltage_pct = kw["thd"]
        assessment.harmonic_analysis.thd_is_estimate = bool(kw.get("estimate", 0))
    assessment.timings.add(stage="total", duration_ms=kw.get("total_ms", 5.0))
    return HistoryItem(f"{t_s * 1000}-0", reading, assessment)
