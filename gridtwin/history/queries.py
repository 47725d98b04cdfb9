"""History and ListMeters requests: validation (INVALID_ARGUMENT naming the field), opaque
page tokens, and the answers built from the repository (used by the history service)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from gridtwin.core.errors import FieldViolation
from gridtwin.history.repository import Repository
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2, reading_pb2

DEFAULT_PAGE = 500
MAX_PAGE = 5000
DEFAULT_METER_PAGE = 1000


def _encode(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode(token: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) else None


def _ts_us(ts: Any) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1_000


def _page_size(value: int, default: int, field: str, violations: list[FieldViolation]) -> int:
    if value < 0:
        violations.append(FieldViolation(field, f"must be ≥ 0 (0 = default {default}), got {value}"))
    if value > MAX_PAGE:
        violations.append(FieldViolation(field, f"at most {MAX_PAGE}, got {value}"))
    return value or default


def parse_history(
    request: gateway_pb2.HistoryRequest, now_us: int | None = None
) -> tuple[dict[str, Any], list[FieldViolation]]:
    """The query a HistoryRequest asks for, or the violations that make it invalid."""
    violations: list[FieldViolation] = []
    if not request.meter_id:
        violations.append(FieldViolation("meter_id", "required"))
    unknown = [m for m in request.models if m not in MODEL_MODULE]
    if unknown:
        violations.append(
            FieldViolation("models", f"unknown model(s) {unknown}; known: {sorted(MODEL_MODULE)}")
        )
    size = _page_size(request.page_size, DEFAULT_PAGE, "page_size", violations)
    start = _ts_us(request.start) if request.HasField("start") else 0
    end = _ts_us(request.end) if request.HasField("end") else (now_us or int(time.time() * 1e6)) + 1
    after = None
    if request.page_token:
        token = _decode(request.page_token)
        if token is None or token.get("m") != request.meter_id or token.get("s") != start:
            violations.append(FieldViolation("page_token", "not a token of this meter and start time"))
        elif request.HasField("end") and token.get("e") != end:
            violations.append(FieldViolation("page_token", "the end time differs from the first page's"))
        else:
            end, after = int(token["e"]), int(token["a"])
    if request.HasField("start") and request.HasField("end") and end <= start:
        violations.append(FieldViolation("end", "must be after start"))
    query = {"meter_id": request.meter_id, "start_us": start, "end_us": end, "after_us": after, "limit": size}
    return query, violations


def project(assessment: assessment_pb2.Assessment, models: list[str]) -> None:
    """Keep only the selected model fields (all when `models` is empty)."""
    if models:
        for name in MODEL_MODULE:
            if name not in models:
                assessment.ClearField(name)


def history_page(
    repo: Repository, request: gateway_pb2.HistoryRequest, query: dict[str, Any]
) -> gateway_pb2.HistoryPage:
    rows = repo.history(
        query["meter_id"], query["start_us"], query["end_us"], query["after_us"], query["limit"] + 1
    )
    page = gateway_pb2.HistoryPage()
    models = list(request.models)
    for row in rows[: query["limit"]]:
        entry = page.entries.add(stream_id=row.stream_id)
        entry.reading.ParseFromString(row.reading)
        entry.assessment.ParseFromString(row.assessment)
        project(entry.assessment, models)
    if len(rows) > query["limit"]:
        last = rows[query["limit"] - 1].time_us
        page.next_page_token = _encode(
            {"m": query["meter_id"], "s": query["start_us"], "e": query["end_us"], "a": last}
        )
    return page


def parse_list_meters(request: gateway_pb2.ListMetersRequest) -> tuple[dict[str, Any], list[FieldViolation]]:
    violations: list[FieldViolation] = []
    size = _page_size(request.page_size, DEFAULT_METER_PAGE, "page_size", violations)
    after = None
    if request.page_token:
        token = _decode(request.page_token)
        if token is None or token.get("p") != request.prefix or not isinstance(token.get("a"), str):
            violations.append(FieldViolation("page_token", "not a token of this prefix"))
        else:
            after = token["a"]
    return {"prefix": request.prefix, "after": after, "limit": size}, violations


def meter_list(repo: Repository, query: dict[str, Any]) -> gateway_pb2.MeterList:
    rows = repo.list_meters(query["prefix"], query["after"], query["limit"] + 1)
    out = gateway_pb2.MeterList()
    for row in rows[: query["limit"]]:
        summary = out.meters.add(
            meter_id=row.meter_id, readings=row.readings, last_severity=row.last_severity
        )
        summary.first_seen.FromMicroseconds(row.first_us)
        summary.last_seen.FromMicroseconds(row.last_us)
        summary.last_reading.CopyFrom(reading_pb2.Reading.FromString(row.last_reading))
    if len(rows) > query["limit"]:
        out.next_page_token = _encode({"p": query["prefix"], "a": rows[query["limit"] - 1].meter_id})
    return out
