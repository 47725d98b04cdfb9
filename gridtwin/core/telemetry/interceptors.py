"""The gRPC interceptors that carry tracing, metrics and the deadline across the mesh.

The server interceptor continues the caller's trace (W3C traceparent in metadata), opens a
SERVER span named after the RPC ("gridtwin.v1.Ingest/Ingest"), records the caller's deadline
so outgoing calls inherit it (deadline propagation), counts the call and its latency by status
code, and turns an unhandled exception into INTERNAL with the trace id and no exception text
(the text goes to the log and the span, never to the caller). The client interceptor opens a
CLIENT span, injects the context and, when the call has no timeout of its own, applies the
remaining deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry.metrics import record_rpc, record_rpc_start
from gridtwin.core.telemetry.tracing import deadline_var, remaining_time, trace_id_hex, tracer

log = logging.getLogger(__name__)

# Not traced or counted: probes and tooling would drown the service's own calls.
UNOBSERVED_PREFIXES = ("/grpc.health", "/grpc.reflection")


def internal_error_message() -> str:
    """What a caller is told about a failure inside the service: no exception text (it can
    carry paths, queries or data), only the trace id that finds the log line."""
    trace_id = trace_id_hex()
    return f"internal error (trace_id {trace_id})" if trace_id else "internal error (see the service log)"


class _MetadataGetter:
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if value is not None else None

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _MetadataGetter()


def split_method(full: str) -> tuple[str, str]:
    """("gridtwin.v1.Ingest", "Ingest") from "/gridtwin.v1.Ingest/Ingest"."""
    service, _, method = full.lstrip("/").partition("/")
    return service, method


def rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.unary_unary:
        return "unary"
    if handler.unary_stream:
        return "server_stream"
    if handler.stream_unary:
        return "client_stream"
    return "bidi_stream"


class ServerTelemetryInterceptor(grpc.aio.ServerInterceptor):
    """SERVER span, call/latency metrics and error sanitising for every RPC."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full = handler_call_details.method
        if full.startswith(UNOBSERVED_PREFIXES):
            return handler
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        service, method = split_method(full)
        name = f"{service}/{method}"
        kind = rpc_type(handler)
        attributes = {attr.RPC_SYSTEM: "grpc", attr.RPC_SERVICE: service, attr.RPC_METHOD: method}

        def enter(context: grpc.aio.ServicerContext) -> tuple[Any, Any, float]:
            record_rpc_start(service, method, kind)
            started = time.perf_counter()
            parent = propagate.extract(metadata, getter=_GETTER)
            span = tracer().start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            remaining = context.time_remaining()
            deadline_var.set(time.monotonic() + remaining if remaining is not None else None)
            return span, token, started

        async def fail(context: grpc.aio.ServicerContext, span: Any, error: BaseException) -> None:
            """Log and record the exception, then answer INTERNAL without its text."""
            log.error("unhandled error in %s", name, exc_info=error)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            await context.abort(grpc.StatusCode.INTERNAL, internal_error_message())

        def leave(span: Any, token: Any, started: float, context: Any, cancelled: bool) -> None:
            code = context.code() if hasattr(context, "code") else None
            if cancelled and code in (None, grpc.StatusCode.OK):
                status = "CANCELLED"
            else:
                status = code.name if code is not None else "OK"
            record_rpc(service, method, kind, status, time.perf_counter() - started)
            if code not in (None, grpc.StatusCode.OK):
                span.set_attribute(attr.RPC_STATUS_CODE, code.value[0])
                span.set_status(Status(StatusCode.ERROR, code.name))
            span.end()
            otel_context.detach(token)

        if handler.unary_unary or handler.stream_unary:
            inner = handler.unary_unary or handler.stream_unary

            async def unary_response(request: Any, context: grpc.aio.ServicerContext) -> Any:
                span, token, started = enter(context)
                cancelled = False
                try:
                    return await inner(request, context)
                except (grpc.aio.AbortError, asyncio.CancelledError) as exc:
                    cancelled = isinstance(exc, asyncio.CancelledError)
                    raise
                except Exception as exc:
                    await fail(context, span, exc)
                finally:
                    leave(span, token, started, context, cancelled)

            factory = (
                grpc.unary_unary_rpc_method_handler
                if handler.unary_unary
                else grpc.stream_unary_rpc_method_handler
            )
            return factory(unary_response, handler.request_deserializer, handler.response_serializer)

        inner_stream = handler.unary_stream or handler.stream_stream

        async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
            span, token, started = enter(context)
            cancelled = False
            try:
                async for item in inner_stream(request, context):
                    yield item
            except (grpc.aio.AbortError, asyncio.CancelledError, GeneratorExit) as exc:
                cancelled = not isinstance(exc, grpc.aio.AbortError)
                raise
            except Exception as exc:
                await fail(context, span, exc)
            finally:
                leave(span, token, started, context, cancelled)

        factory = (
            grpc.unary_stream_rpc_method_handler
            if handler.unary_stream
            else grpc.stream_stream_rpc_method_handler
        )
        return factory(streaming, handler.request_deserializer, handler.response_serializer)


def _with_trace(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = list(details.metadata or [])
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    metadata.extend(carrier.items())
    timeout = details.timeout
    if timeout is None and deadline_var.get() is not None:
        timeout = remaining_time(3600.0)
    return grpc.aio.ClientCallDetails(
        details.method, timeout, metadata, details.credentials, details.wait_for_ready
    )


class ClientTracingInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """CLIENT span per outgoing unary call; injects the trace context and the deadline."""

    async def intercept_unary_unary(self, continuation, client_call_details, request):  # type: ignore[no-untyped-def]
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        service, name = split_method(method)
        with tracer().start_as_current_span(
            f"{service}/{name}",
            kind=SpanKind.CLIENT,
            attributes={attr.RPC_SYSTEM: "grpc", attr.RPC_SERVICE: service, attr.RPC_METHOD: name},
        ) as span:
            call = await continuation(_with_trace(client_call_details), request)
            code = await call.code()
            if code != grpc.StatusCode.OK:
                span.set_attribute(attr.RPC_STATUS_CODE, code.value[0])
                span.set_status(Status(StatusCode.ERROR, code.name))
            return call


# The name the rest of the code base has used so far.
ServerTracingInterceptor = ServerTelemetryInterceptor
