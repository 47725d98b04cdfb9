"""WebSocket `/v1/live`: the gateway's Subscribe, one gRPC stream per connection.

Query parameters are Subscribe's filters: `meters` and `models` (repeated or comma-separated),
`min_severity` (a Severity name such as WARNING). The token comes from the `Authorization`
header or, since browsers cannot set headers on a WebSocket, from `access_token`.

Every message is JSON: `{"type": "assessment", "dropped": N, "assessment": {…proto3 JSON…}}`,
where `dropped` counts the assessments this connection has lost so far because it read too
slowly (bounded queue, oldest dropped first: a slow client never holds up the others), or
`{"type": "error", "code": …, "message": …, "fieldViolations": […]}` before the server
closes (1008 for bad filters, 1011 when the gateway stream fails).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from fastapi import WebSocket, WebSocketDisconnect
from google.protobuf import json_format

from gridtwin.core.config import settings
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2
from gridtwin.web.errors import error_body, from_rpc_error, invalid
from gridtwin.web.live import DropOldestQueue
from services.web import metrics
from services.web.gateway import BadAuthorization, GatewayClient, auth_metadata

POLICY_VIOLATION = 1008
INTERNAL_ERROR = 1011


def _split(values: list[str]) -> list[str]:
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def subscribe_request(params: Any) -> gateway_pb2.SubscribeRequest | tuple[int, dict[str, Any]]:
    """The SubscribeRequest of the query parameters, or (status, error body) naming the field."""
    models = _split(params.getlist("models"))
    unknown = [m for m in models if m not in MODEL_MODULE]
    if unknown:
        return invalid("models", f"unknown model(s) {unknown}; known: {sorted(MODEL_MODULE)}")
    severity_name = params.get("min_severity", "") or "SEVERITY_UNSPECIFIED"
    try:
        severity = (
            int(severity_name)
            if severity_name.isdigit()
            else assessment_pb2.Severity.Value(severity_name.upper())
        )
        assessment_pb2.Severity.Name(severity)
    except ValueError:
        return invalid(
            "min_severity", f"{severity_name!r} is not one of {list(assessment_pb2.Severity.keys())}"
        )
    return gateway_pb2.SubscribeRequest(
        meter_ids=_split(params.getlist("meters")),
        models=models,
        min_severity=severity,  # type: ignore[arg-type]
        resume_from=params.get("resume_from", ""),
    )


def live_endpoint(gateway: GatewayClient) -> Callable[[WebSocket], Awaitable[None]]:
    queue_size = settings().web_live_queue

    async def live(websocket: WebSocket) -> None:
        request = subscribe_request(websocket.query_params)
        await websocket.accept()
        if not isinstance(request, gateway_pb2.SubscribeRequest):
            await _close_with_error(websocket, request[1], POLICY_VIOLATION)
            return
        token = websocket.headers.get("authorization")
        if not token and websocket.query_params.get("access_token"):
            token = f"Bearer {websocket.query_params['access_token']}"
        try:
            metadata = auth_metadata(token)
        except BadAuthorization as exc:
            await _close_with_error(
                websocket, error_body(grpc.StatusCode.UNAUTHENTICATED, str(exc)), POLICY_VIOLATION
            )
            return
        queue: DropOldestQueue[assessment_pb2.Assessment] = DropOldestQueue(queue_size)
        call = gateway.stub.Subscribe(request, metadata=metadata)

        async def pump() -> None:
            async for assessment in call:
                before = queue.dropped
                queue.put(assessment)
                if queue.dropped != before:
                    metrics.LIVE_DROPPED.inc()

        async def send() -> None:
            while True:
                assessment = await queue.get()
                # JSON only for what is delivered: dropped items cost nothing
                payload = json_format.MessageToDict(assessment, always_print_fields_with_no_presence=True)
                await websocket.send_text(
                    json.dumps({"type": "assessment", "dropped": queue.dropped, "assessment": payload})
                )

        async def until_closed() -> None:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return

        metrics.LIVE_CONNECTIONS.inc()
        tasks = [asyncio.create_task(t()) for t in (pump, send, until_closed)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            failure = next((t.exception() for t in done if not t.cancelled() and t.exception()), None)
            if isinstance(failure, grpc.aio.AioRpcError) and failure.code() != grpc.StatusCode.CANCELLED:
                status, body = from_rpc_error(failure)
                await _close_with_error(websocket, body, POLICY_VIOLATION if status < 500 else INTERNAL_ERROR)
        finally:
            metrics.LIVE_CONNECTIONS.dec()
            call.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return live


async def _close_with_error(websocket: WebSocket, body: dict[str, Any], code: int) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        await websocket.send_text(json.dumps({"type": "error", **body}))
        await websocket.close(code=code, reason=body.get("message", "")[:120])
