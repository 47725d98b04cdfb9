"""Kept for code written before `gridtwin.core.telemetry`: re-exports its tracing names.
New code imports from `gridtwin.core.telemetry`."""

from gridtwin.core.telemetry import (
    ClientTracingInterceptor,
    ServerTracingInterceptor,
    remaining_time,
    setup_tracing,
    shutdown_tracing,
    trace_id_hex,
    tracer,
    tracing_configured,
)

__all__ = [
    "ClientTracingInterceptor",
    "ServerTracingInterceptor",
    "remaining_time",
    "setup_tracing",
    "shutdown_tracing",
    "trace_id_hex",
    "tracer",
    "tracing_configured",
]
