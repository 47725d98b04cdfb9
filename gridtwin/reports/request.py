"""`ReportRequest` validation: the report a request asks for, or the violations that make it
invalid (INVALID_ARGUMENT naming the field). Light on purpose: the gateway validates with it
too, without loading the rendering stack (matplotlib, reportlab) or a database driver."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from gridtwin.core.errors import FieldViolation
from gridtwin.v1 import gateway_pb2

KINDS = ("en50160", "models")
FORMATS = {"pdf": "application/pdf", "csv": "text/csv"}
#: The longest range one report may cover: a year (EN 50160 judges frequency over a year)
#: plus a leap day. Longer ranges would hold one request's worth of rows in memory for minutes.
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class ReportQuery:
    kind: str
    meter_id: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    format: str
    islanded: bool
    nominal_voltage_v: float | None  # V phase-to-neutral; None = from the readings
    nominal_frequency_hz: float | None  # Hz; None = from the readings

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]

    @property
    def filename(self) -> str:
        meter = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.meter_id)[:80]
        return f"{self.kind}-{meter}-{self.start:%Y%m%dT%H%M%SZ}-{self.end:%Y%m%dT%H%M%SZ}.{self.format}"


def invalid_message(violations: list[FieldViolation]) -> str:
    """The status message of a refused request, naming every bad field."""
    return "invalid report request: " + "; ".join(f"{v.field}: {v.description}" for v in violations)


def _optional_positive(value: float, field: str, violations: list[FieldViolation]) -> float | None:
    if value == 0:
        return None
    if not math.isfinite(value) or value < 0:
        violations.append(FieldViolation(field, f"must be > 0 (0 = from the readings), got {value}"))
        return None
    return value


def _time(
    request: gateway_pb2.ReportRequest, field: str, violations: list[FieldViolation]
) -> datetime | None:
    if not request.HasField(field):
        violations.append(FieldViolation(field, "required"))
        return None
    try:
        return getattr(request, field).ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        violations.append(FieldViolation(field, f"not a valid time: {exc}"))
        return None


def parse_report(request: gateway_pb2.ReportRequest) -> tuple[ReportQuery | None, list[FieldViolation]]:
    """The query of a ReportRequest, or (None, violations)."""
    violations: list[FieldViolation] = []
    if request.kind not in KINDS:
        violations.append(FieldViolation("kind", f"must be one of {', '.join(KINDS)}, got {request.kind!r}"))
    if not request.meter_id:
        violations.append(FieldViolation("meter_id", "required"))
    fmt = request.format or "pdf"
    if fmt not in FORMATS:
        violations.append(FieldViolation("format", f"must be pdf or csv, got {request.format!r}"))
    start = _time(request, "start", violations)
    end = _time(request, "end", violations)
    if start is not None and end is not None:
        if end <= start:
            violations.append(FieldViolation("end", "must be after start"))
        elif (end - start).total_seconds() > MAX_RANGE_DAYS * 86_400:
            violations.append(
                FieldViolation(
                    "end", f"the range may cover at most {MAX_RANGE_DAYS} days, got {(end - start).days} days"
                )
            )
    un = _optional_positive(request.nominal_voltage_v, "nominal_voltage_v", violations)
    fn = _optional_positive(request.nominal_frequency_hz, "nominal_frequency_hz", violations)
    if violations or start is None or end is None:
        return None, violations
    return (
        ReportQuery(request.kind, request.meter_id, start, end, fmt, request.islanded, un, fn),
        [],
    )
