"""`GET /v1/reports/en50160`: the EN 50160 compliance report of one meter over a time range.

The statistics and the PDF/CSV rendering belong to the report library (`gridtwin.reports`),
built separately; this route only fetches the meter's stored history from the gateway
(History, every page) and hands it over. Until the library provides
`en50160_from_history(entries, meter_id, start, end, fmt) -> bytes` the route answers
501 Not Implemented and says so, never a made-up report.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import grpc

from gridtwin.v1 import gateway_pb2
from gridtwin.web.errors import error_body, from_rpc_error, invalid
from services.web.gateway import GatewayClient

RENDERER = "en50160_from_history"
MEDIA_TYPES = {"pdf": "application/pdf", "csv": "text/csv"}
MAX_ENTRIES = 200_000  # a year of 10-min values is 52,560; a week of 1-s readings would be more


def _renderer() -> Any | None:
    try:
        module = importlib.import_module("gridtwin.reports")
    except ImportError:
        return None
    return getattr(module, RENDERER, None)


async def en50160_report(
    gateway: GatewayClient,
    meter: str,
    start: str,
    end: str,
    fmt: str,
    metadata: Any,
) -> tuple[int, dict[str, Any] | bytes, str]:
    """(HTTP status, error body or report bytes, media type)."""
    request = gateway_pb2.HistoryRequest(meter_id=meter, page_size=5000)
    request.start.FromJsonString(start)
    request.end.FromJsonString(end)
    if request.end.ToNanoseconds() <= request.start.ToNanoseconds():
        return (*invalid("to", "must be after `from`"), "")
    render = _renderer()
    if render is None:
        message = (
            f"EN 50160 reports are not available in this build: gridtwin.reports.{RENDERER} is missing "
            "(the report library is wired in separately)"
        )
        return 501, error_body(grpc.StatusCode.UNIMPLEMENTED, message), ""
    entries: list[gateway_pb2.HistoryEntry] = []
    try:
        while True:
            page = await gateway.stub.History(request, timeout=gateway.timeout_s, metadata=metadata)
            entries.extend(page.entries)
            if not page.next_page_token or len(entries) >= MAX_ENTRIES:
                break
            request.page_token = page.next_page_token
    except grpc.aio.AioRpcError as exc:
        status, body = from_rpc_error(exc)
        return status, body, ""
    if not entries:
        return 404, error_body(grpc.StatusCode.NOT_FOUND, f"no stored readings of {meter!r} in the range"), ""
    data = await asyncio.to_thread(
        render, entries, meter, request.start.ToDatetime(), request.end.ToDatetime(), fmt
    )
    return 200, data, MEDIA_TYPES[fmt]
