"""OpenTelemetry tracing, set up once per process, and the deadline of the RPC being served.

With `OTEL_EXPORTER_OTLP_ENDPOINT` set, spans are exported over OTLP/gRPC; without it the
API's non-recording tracer is used and tracing costs next to nothing.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from opentelemetry import trace

from gridtwin.core.config import settings

log = logging.getLogger(__name__)

_provider: Any = None
# Absolute deadline (time.monotonic seconds) of the RPC this task is serving, if any.
deadline_var: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def tracing_configured() -> bool:
    """True when spans are exported (an OTLP endpoint is configured)."""
    return bool(settings().otlp_endpoint)


def setup_tracing(service_name: str) -> None:
    """Install the SDK tracer provider with an OTLP exporter when an endpoint is configured."""
    global _provider
    endpoint = settings().otlp_endpoint
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
    deadline = deadline_var.get()
    if deadline is None:
        return default_s
    return max(0.001, min(default_s, deadline - time.monotonic()))


def current_ids() -> tuple[str, str]:
    """(trace id, span id) of the current span as hex, or ("", "") outside a recorded trace."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def trace_id_hex() -> str:
    return current_ids()[0]
