"""OpenTelemetry tracing, set up once per process, plus the gRPC interceptors that carry it.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/gRPC; without it the
API's non-recording tracer is used and tracing costs next to nothing. The server interceptor
continues the caller's trace (W3C traceparent in metadata), opens a SERVER span named after
the RPC ("gridtwin.v1.Ingest/Ingest") and records the caller's deadline so outgoing calls
inherit it (deadline propagation). The client interceptor opens a CLIENT span, injects the
context and, when the call has no timeout of its own, applies the remaining deadline.
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

log = logging.getLogger(__name__)

_provider: Any = None
# Absolute deadline (time.monotonic seconds) of the RPC this task is serving, if any.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def tracing_configured() -> bool:
    """True when spans are exported (an OTLP endpoint is configured)."""
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def setup_tracing(service_name: str) -> None:
    """Install the SDK tracer provider with an OTLP exporter when an endpoint is configured."""
    global _provider
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not endpoint:
        log.info("tracing disabled (OTEL_EXPORTER_OTLP_ENDPOINT not set)")
        return
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    insecure = not endpoint.startswith("https://")
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=insecure)))
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing to %s", endpoint)


def shutdown_tracing() -> None:
    if _provider is not None:
        _provider.shutdown()


def tracer(name: str = "gridtwin") -> trace.Tracer:
    return trace.get_tracer(name)


def remaining_time(default_s: float) -> float:
    """Seconds a downstream call may take: the smaller of `default_s` and what is left of the
    deadline of the RPC being served."""
    deadline = _deadline.get()
    if deadline is None:
        return default_s
    return max(0.001, min(default_s, deadline - time.monotonic()))


def trace_id_hex() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


class _MetadataGetter:
    def get(self, carrier: dict[str, str], key: str) -> list[str] | None:
        value = carrier.get(key)
        return [value] if value is not None else None

    def keys(self, carrier: dict[str, str]) -> list[str]:
        return list(carrier)


_GETTER = _MetadataGetter()


def _rpc_duration() -> Any:
    from gridtwin.core.metrics import instruments

    return instruments()["rpc"]


def _split_method(full: str) -> tuple[str, str]:
    service, _, method = full.lstrip("/").partition("/")
    return service, method


class ServerTracingInterceptor(grpc.aio.ServerInterceptor):
    """SERVER span per RPC continuing the caller's trace; records the deadline."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        full = handler_call_details.method
        if full.startswith("/grpc.health") or full.startswith("/grpc.reflection"):
            return handler
        metadata = {k: v for k, v in (handler_call_details.invocation_metadata or ()) if isinstance(v, str)}
        service, method = _split_method(full)
        name = f"{service}/{method}"
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

        def enter(context: grpc.aio.ServicerContext) -> tuple[Any, Any, float]:
            started = time.perf_counter()
            parent = propagate.extract(metadata, getter=_GETTER)
            span = tracer().start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            remaining = context.time_remaining()
            _deadline.set(time.monotonic() + remaining if remaining is not None else None)
            return span, token, started

        def leave(span: Any, token: Any, started: float, error: BaseException | None, context: Any) -> None:
            code = context.code() if hasattr(context, "code") else None
            failed = error is not None and not isinstance(error, grpc.aio.AbortError)
            status = code.name if code is not None else ("UNKNOWN" if failed else "OK")
            _rpc_duration().record(
                (time.perf_counter() - started) * 1e3, {**attributes, "rpc.grpc.status_code": status}
            )
            if error is not None and not isinstance(error, grpc.aio.AbortError):
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
            elif code not in (None, grpc.StatusCode.OK):
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                span.set_status(Status(StatusCode.ERROR))
            span.end()
            otel_context.detach(token)

        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                span, token, started = enter(context)
                error = None
                try:
                    return await inner(request, context)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    leave(span, token, started, error, context)

            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.unary_stream or handler.stream_stream:
            is_unary = handler.unary_stream is not None
            inner_stream = handler.unary_stream or handler.stream_stream

            async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
                span, token, started = enter(context)
                error = None
                try:
                    async for item in inner_stream(request, context):
                        yield item
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    leave(span, token, started, error, context)

            factory = (
                grpc.unary_stream_rpc_method_handler if is_unary else grpc.stream_stream_rpc_method_handler
            )
            return factory(streaming, handler.request_deserializer, handler.response_serializer)
        return handler


def _with_trace(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    metadata = list(details.metadata or [])
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    metadata.extend(carrier.items())
    timeout = details.timeout
    if timeout is None and _deadline.get() is not None:
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
        service, name = _split_method(method)
        with tracer().start_as_current_span(
            f"{service}/{name}",
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        ) as span:
            call = await continuation(_with_trace(client_call_details), request)
            code = await call.code()
            if code != grpc.StatusCode.OK:
                span.set_attribute("rpc.grpc.status_code", code.value[0])
                span.set_status(Status(StatusCode.ERROR, code.name))
            return call
