"""Client channels: round-robin over every address a name resolves to, keepalive, retries.

HTTP/2 multiplexes every call onto one connection, so a plain channel to a Kubernetes
ClusterIP pins all traffic to one pod. Pointing the channel at a headless Service
(`dns:///svc-headless:port`) with the `round_robin` policy spreads calls over all pods.
Retries (with exponential backoff) apply only to the idempotent methods listed below.
"""

from __future__ import annotations

import json

import grpc

from gridtwin.core.config import settings
from gridtwin.core.telemetry import ClientTracingInterceptor, tracing_configured
from gridtwin.security.tls import channel_credentials

# Methods that are safe to retry. Ingest de-duplicates on (meter_id, timestamp), so a retried
# batch is answered, never double counted; catalogues and the schema are reads. Not retried:
# module `Evaluate` (models with per-meter state update it in `prepare`: load forecast
# accumulators, asset stress counts, demand-response profiles) and `Features.Compute` (appends
# to rolling windows).
IDEMPOTENT_METHODS = [
    {"service": "gridtwin.v1.Ingest", "method": "Ingest"},
    {"service": "gridtwin.v1.Features", "method": "GetSchema"},
    *(
        {"service": f"gridtwin.v1.{module}", "method": "ListModels"}
        for module in ("Monitoring", "Maintenance", "Energy", "Decision")
    ),
]

_SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": IDEMPOTENT_METHODS,
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.02s",
                "maxBackoff": "0.2s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}

MAX_MESSAGE_BYTES = 64 * 1024 * 1024

CHANNEL_OPTIONS: list[tuple[str, object]] = [
    ("grpc.service_config", json.dumps(_SERVICE_CONFIG)),
    ("grpc.enable_retries", 1),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Reconnect quickly after a pod restarts.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]

SERVER_OPTIONS: list[tuple[str, object]] = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]


# Internal services (unary calls only): clients re-resolve DNS only when a connection closes,
# so ageing connections out makes them discover pods added by a scale-up within a minute.
# Not for the gateway, whose AssessStream/Subscribe calls are long-lived by design.
def connection_age_options() -> list[tuple[str, object]]:
    """Server options that age connections out (`GRPC_MAX_CONNECTION_AGE_S`, `..._GRACE_S`)."""
    cfg = settings()
    return [
        ("grpc.max_connection_age_ms", int(1000 * cfg.grpc_max_connection_age_s)),
        ("grpc.max_connection_age_grace_ms", int(1000 * cfg.grpc_max_connection_age_grace_s)),
    ]


def make_channel(target: str) -> grpc.aio.Channel:
    """An in-mesh aio channel with round-robin, keepalive, retries and tracing; mutual TLS
    (trusting only the mesh CA, presenting this service's certificate) when GRIDTWIN_TLS_CA
    is set, plaintext otherwise (gridtwin.security.tls).

    The tracing interceptor is installed only when spans are exported: grpc.aio runs an
    intercepted call through an extra task, which costs a measurable share of a hop. Every
    call in the mesh passes an explicit timeout (`remaining_time`), so deadline propagation
    does not depend on the interceptor.
    """
    interceptors = [ClientTracingInterceptor()] if tracing_configured() else None
    credentials = channel_credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS, interceptors=interceptors)
