"""Tracing and metrics in one package (no import cycles: attributes ← tracing ← metrics ←
interceptors, exposition).

- `tracing`: OTLP span export, the current trace/span ids, deadline propagation.
- `metrics`: every metric, recorded once into Prometheus and OpenTelemetry.
- `interceptors`: the gRPC server/client interceptors (spans, RPC metrics, error sanitising).
- `exposition`: `/metrics` over HTTP for gRPC services; ASGI app and middleware for the web.
- `attributes`: the span/metric attribute names.
"""

from gridtwin.core.telemetry.exposition import (
    PrometheusMiddleware,
    metrics_asgi_app,
    metrics_port,
    set_serving,
    start_metrics_server,
)
from gridtwin.core.telemetry.interceptors import (
    ClientTracingInterceptor,
    ServerTelemetryInterceptor,
    ServerTracingInterceptor,
    internal_error_message,
)
from gridtwin.core.telemetry.metrics import (
    DRIFT_FEATURES,
    instruments,
    observe_drops,
    observe_queue,
    record_feature_mean,
    record_items,
    record_model,
    record_redis_error,
    setup_metrics,
    shutdown_metrics,
    track_queue,
)
from gridtwin.core.telemetry.tracing import (
    current_ids,
    remaining_time,
    setup_tracing,
    shutdown_tracing,
    trace_id_hex,
    tracer,
    tracing_configured,
)

__all__ = [
    "DRIFT_FEATURES",
    "ClientTracingInterceptor",
    "PrometheusMiddleware",
    "ServerTelemetryInterceptor",
    "ServerTracingInterceptor",
    "current_ids",
    "instruments",
    "internal_error_message",
    "metrics_asgi_app",
    "metrics_port",
    "observe_drops",
    "observe_queue",
    "record_feature_mean",
    "record_items",
    "record_model",
    "record_redis_error",
    "remaining_time",
    "set_serving",
    "setup_metrics",
    "setup_tracing",
    "shutdown_metrics",
    "shutdown_tracing",
    "start_metrics_server",
    "trace_id_hex",
    "tracer",
    "tracing_configured",
    "track_queue",
]
