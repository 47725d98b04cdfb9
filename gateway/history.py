"""The gateway's history RPCs: `History`, `ListMeters` and `Report` (answered by the history
service, which owns the database and renders reports), and `Subscribe` read from the
assessment stream.

Why the gateway calls the history service instead of opening the database itself: one
process type owns the schema, the connection pool and the credentials (history pods only),
the gateway stays stateless and free of database drivers, and gateway replicas do not
multiply database connections. Requests are validated here too, so a bad one never leaves
the gateway (INVALID_ARGUMENT naming the field, google.rpc.BadRequest).

Subscribe reads the stream `<prefix>assessments` with XREAD (from `resume_from`, or from the
stream's end for live only): replay and live are one ordered sequence with no gap between
them, every gateway replica serves every assessment, and each delivered assessment carries
its `stream_id` for a later resume. A `resume_from` older than the stream's cap
(`HISTORY_STREAM_MAXLEN`) resumes at the oldest retained entry; `History` has the rest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import redis.asyncio as aioredis

from gateway.publisher import matches, project
from gridtwin.core.channels import make_channel
from gridtwin.core.config import service_addr, settings
from gridtwin.core.errors import FieldViolation, abort_with_status, bad_request
from gridtwin.core.telemetry.metrics import record_online
from gridtwin.history import queries
from gridtwin.history.ack_request import ack_violations
from gridtwin.history.stream import is_stream_id, stream_key
from gridtwin.registry import MODEL_MODULE
from gridtwin.reports.request import invalid_message, parse_report
from gridtwin.security.auth import current_principal
from gridtwin.v1 import assessment_pb2, gateway_pb2, history_pb2_grpc, services_pb2

HISTORY_TIMEOUT_S = 10.0
READ_COUNT = 500
BLOCK_MS = 1000


class HistoryClient:
    """History/ListMeters handlers backed by the history service."""

    def __init__(self) -> None:
        self.channel = make_channel(service_addr("history"))
        self.stub = history_pb2_grpc.HistoryStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def history(
        self, request: gateway_pb2.HistoryRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.HistoryPage:
        _, violations = queries.parse_history(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid history request"))
        return await self._forward(self.stub.Query, request, context)

    async def list_meters(
        self, request: gateway_pb2.ListMetersRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.MeterList:
        _, violations = queries.parse_list_meters(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid list-meters request"))
        return await self._forward(self.stub.ListMeters, request, context)

    async def report(
        self, request: gateway_pb2.ReportRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ReportFile:
        _, violations = parse_report(request)
        if violations:
            await abort_with_status(context, bad_request(violations, invalid_message(violations)))
        remaining = context.time_remaining()
        # A year of readings takes a while to read and plot; the caller's own deadline still applies.
        limit = settings().gateway_report_timeout_s
        timeout = limit if remaining is None else min(limit, remaining)
        return await self._forward(self.stub.Report, request, context, timeout)

    async def acknowledge(
        self, request: services_pb2.AlarmAcknowledgement, context: grpc.aio.ServicerContext
    ) -> services_pb2.AlarmAcknowledgement:
        """The operator's verdict, stored by history with the caller's subject as who."""
        violations = ack_violations(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid acknowledgement"))
        forwarded = services_pb2.AlarmAcknowledgement()
        forwarded.CopyFrom(request)
        forwarded.acknowledged_by = current_principal.get().subject
        forwarded.ClearField("acknowledged_at")
        forwarded.model_version, forwarded.severity = "", assessment_pb2.SEVERITY_UNSPECIFIED
        return await self._forward(self.stub.Acknowledge, forwarded, context)

    async def online(self, models: list[str]) -> tuple[list[services_pb2.OnlineMetrics], str]:
        """Online figures per model version from history, or none and why (history down:
        ModelHealth still answers)."""
        try:
            reply = await self.stub.OnlineMetrics(
                services_pb2.OnlineMetricsRequest(models=models), timeout=HISTORY_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as exc:
            return [], f"history unavailable ({exc.code().name})"
        for metrics in reply.metrics:
            record_online(metrics)
        return list(reply.metrics), ""

    async def _forward(self, method, request, context, timeout=HISTORY_TIMEOUT_S):  # type: ignore[no-untyped-def]
        try:
            return await method(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), f"history: {exc.details()}")


def subscribe_violations(request: gateway_pb2.SubscribeRequest) -> list[FieldViolation]:
    violations = []
    unknown = [m for m in request.models if m not in MODEL_MODULE]
    if unknown:
        violations.append(FieldViolation("models", f"unknown model(s) {unknown}"))
    if request.resume_from and not is_stream_id(request.resume_from):
        violations.append(
            FieldViolation(
                "resume_from", f"not a stream position like '1764500000000-0': {request.resume_from!r}"
            )
        )
    if request.min_severity not in assessment_pb2.Severity.values():
        violations.append(FieldViolation("min_severity", f"unknown severity {request.min_severity}"))
    return violations


async def _stream_end(client: aioredis.Redis, key: str) -> str:
    last = await client.xrevrange(key, count=1)
    return last[0][0].decode() if last else "0-0"


async def subscribe(
    client: aioredis.Redis, prefix: str, request: gateway_pb2.SubscribeRequest
) -> AsyncIterator[assessment_pb2.Assessment]:
    """Assessments after `request.resume_from` (or from now), filtered, in stream order, forever."""
    key = stream_key(prefix)
    position = request.resume_from or await _stream_end(client, key)
    models = list(request.models)
    while True:
        response = await client.xread({key: position}, count=READ_COUNT, block=BLOCK_MS)
        if not response:
            continue
        for sid, fields in response[0][1]:
            position = sid.decode()
            payload = fields.get(b"a")
            if payload is None:
                continue
            assessment = assessment_pb2.Assessment.FromString(payload)
            if matches(assessment, request):
                assessment.stream_id = position
                yield project(assessment, models)
