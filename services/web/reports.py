"""`GET /v1/reports/en50160` and `GET /v1/reports/models`: a report of one meter over a time
range as PDF or CSV, from the gateway's `Report` (the history service builds it with
`gridtwin.reports`; this service holds no database connection and renders nothing itself).

The gateway names bad fields as in `ReportRequest` (meter_id, start, end); they are renamed
to this route's query parameters (meter, from, to) so a REST caller sees its own names.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from gridtwin.v1 import gateway_pb2

# ReportRequest field → query parameter of the REST routes
QUERY_NAMES = {"meter_id": "meter", "start": "from", "end": "to"}


def report_request(
    kind: str, meter: str, start: str, end: str, fmt: str, islanded: bool = False
) -> gateway_pb2.ReportRequest:
    """The gateway request of a report route (`start`/`end` are RFC 3339, already checked)."""
    request = gateway_pb2.ReportRequest(kind=kind, meter_id=meter, format=fmt, islanded=islanded)
    request.start.FromJsonString(start)
    request.end.FromJsonString(end)
    return request


def rename_fields(body: dict[str, Any]) -> dict[str, Any]:
    """An error body with the gateway's field names replaced by the query parameters'."""
    violations = body.get("fieldViolations", [])
    for v in violations:
        v["field"] = QUERY_NAMES.get(v["field"], v["field"])
    message = body.get("message", "")
    for proto, query in QUERY_NAMES.items():
        message = message.replace(f"{proto}: ", f"{query}: ")
    return {**body, "message": message, "fieldViolations": violations}


def file_response(report: gateway_pb2.ReportFile) -> Response:
    """The report's bytes with its media type, offered as a download under its file name."""
    return Response(
        report.content,
        media_type=report.media_type,
        headers={"Content-Disposition": f'attachment; filename="{report.filename}"'},
    )
