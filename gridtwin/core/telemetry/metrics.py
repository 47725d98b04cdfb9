"""Metrics for SREs, recorded once and exposed twice: Prometheus (pulled from `/metrics` on
every service, always on) and OpenTelemetry (pushed over OTLP/gRPC to the same endpoint as
traces when `OTEL_EXPORTER_OTLP_ENDPOINT` is set; otherwise the API's no-op meter).

Call sites use the `record_*` functions below, never the instruments directly, so the two
exports cannot drift apart. docs/observability.md lists every metric with its labels.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

from opentelemetry import metrics
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from gridtwin.core.config import settings
from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry.tracing import tracing_configured

_provider = None

# Features whose batch means are recorded for drift monitoring.
DRIFT_FEATURES = (
    "voltage_mean_pu",
    "frequency_hz",
    "power_factor_total",
    "vuf_pct",
    "current_unbalance_pct",
    "thd_voltage_max_pct",
    "active_power_total_w",
)

# Seconds: from a fraction of a millisecond (one model on a small batch) to the gateway's
# longest deadlines.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# ---- Prometheus instruments (the default registry, served by exposition.py) -------------
disable_created_metrics()  # no `_created` twin of every series: half the samples, no information
GRPC_LABELS = ("grpc_service", "grpc_method", "grpc_type")
RPC_STARTED = Counter("grpc_server_started", "RPCs started on the server", GRPC_LABELS)
RPC_HANDLED = Counter(
    "grpc_server_handled", "RPCs completed on the server, by status code", (*GRPC_LABELS, "grpc_code")
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the call's start to its status (streams: their lifetime)",
    GRPC_LABELS,
    buckets=LATENCY_BUCKETS_S,
)
ITEMS = Counter(
    "gridtwin_items",
    "Readings handled inside Assess/AssessBatch/AssessStream, by outcome "
    "(ok, duplicate, invalid, failed): a batch RPC that returns OK can carry rejected items",
    ("grpc_method", "outcome"),
)
QUEUE_DEPTH = Gauge("gridtwin_queue_depth", "Items waiting in an in-process queue", ("queue",))
REDIS_ERRORS = Counter("gridtwin_redis_errors", "Redis round trips that raised, by operation", ("operation",))
MODEL_SECONDS = Histogram(
    "gridtwin_model_duration_seconds",
    "prepare+predict time of one model on one batch",
    ("model", "version"),
    buckets=LATENCY_BUCKETS_S,
)
MODEL_OUTPUTS = Counter(
    "gridtwin_model_outputs",
    "Model answers by status and severity (their mix over time is the prediction-drift signal)",
    ("model", "version", "status", "severity"),
)
FEATURE_MEAN = Gauge(
    "gridtwin_feature_batch_mean", "Mean of a monitored feature over the latest batch (drift)", ("feature",)
)
DRIFT_PSI = Gauge(
    "gridtwin_model_drift_psi",
    "PSI of a model input over the drift window against its version's reference (docs/lifecycle.md)",
    ("model", "version", "column"),
)
DRIFTING = Gauge(
    "gridtwin_model_drifting",
    "1 when the model's window drifts (a PSI over the threshold)",
    ("model", "version"),
)

ONLINE_MAPE = Gauge(
    "gridtwin_model_online_mape_pct",
    "load_forecast's MAPE over the last day against the load that then happened (history), % "
    "(kind=online), beside the MAPE it reports from held-out data (kind=registry)",
    ("model", "version", "kind"),
)
ALARM_ACKS = Gauge(
    "gridtwin_model_alarm_acks",
    "Alarms of a version acknowledged by operators, by verdict (confirmed, dismissed)",
    ("model", "version", "verdict"),
)
ALARM_PRECISION = Gauge(
    "gridtwin_model_alarm_precision",
    "Confirmed / (confirmed + dismissed) acknowledged alarms of a version",
    ("model", "version"),
)


class _CallbackCounters(Collector):
    """Counters whose value lives in someone else's object (e.g. the publisher's `dropped`),
    read at scrape time: the owner does not have to know about Prometheus."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sources: dict[str, tuple[str, str, dict[tuple[str, ...], Callable[[], float]]]] = {}

    def add(self, name: str, documentation: str, label: str, value: str, read: Callable[[], float]) -> None:
        with self._lock:
            _, _, reads = self._sources.setdefault(name, (documentation, label, {}))
            reads[(value,)] = read

    def collect(self) -> Iterable[CounterMetricFamily]:
        with self._lock:
            sources = {k: (d, lbl, dict(r)) for k, (d, lbl, r) in self._sources.items()}
        for name, (documentation, label, reads) in sources.items():
            family = CounterMetricFamily(name, documentation, labels=[label])
            for values, read in reads.items():
                try:
                    family.add_metric(list(values), float(read()))
                except Exception:  # a scrape never fails because one source did
                    continue
            yield family


_CALLBACKS = _CallbackCounters()
REGISTRY.register(_CALLBACKS)
_QUEUES: dict[str, weakref.WeakSet[Any]] = {}


def observe_drops(what: str, read: Callable[[], float]) -> None:
    """Expose `gridtwin_dropped_total{what=…}` read from a running total kept elsewhere."""
    _CALLBACKS.add(
        "gridtwin_dropped", "Items dropped on purpose (best-effort paths), by what", "what", what, read
    )


def observe_queue(name: str, read: Callable[[], float]) -> None:
    """Expose `gridtwin_queue_depth{queue=name}` read at scrape time."""
    QUEUE_DEPTH.labels(name).set_function(read)


def track_queue(name: str, queue: Any) -> None:
    """Count `queue` (anything with qsize()) in `gridtwin_queue_depth{queue=name}` while it is
    alive: the gauge is the sum over every live queue of that name (one per open stream)."""
    queues = _QUEUES.get(name)
    if queues is None:
        queues = _QUEUES[name] = weakref.WeakSet()
        QUEUE_DEPTH.labels(name).set_function(lambda: sum(q.qsize() for q in list(queues)))
    queues.add(queue)


# ---- OpenTelemetry instruments ---------------------------------------------------------
def setup_metrics(service_name: str) -> None:
    """Push metrics over OTLP when an endpoint is configured (Prometheus needs no setup)."""
    global _provider
    if not tracing_configured():
        return
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    endpoint = settings().otlp_endpoint
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://")),
        export_interval_millis=settings().otel_metric_export_interval_ms,
    )
    _provider = MeterProvider(
        resource=Resource.create({"service.name": service_name}), metric_readers=[reader]
    )
    metrics.set_meter_provider(_provider)


def shutdown_metrics() -> None:
    if _provider is not None:
        _provider.shutdown()


@cache
def instruments() -> dict[str, Any]:
    meter = metrics.get_meter("gridtwin")
    return {
        "rpc": meter.create_histogram("rpc.server.duration", unit="ms", description="RPC latency"),
        "model": meter.create_histogram(
            "gridtwin.model.duration", unit="ms", description="model prepare+predict time per batch"
        ),
        "outputs": meter.create_counter(
            "gridtwin.model.outputs", description="model answers by status and severity"
        ),
        "feature": meter.create_histogram(
            "gridtwin.feature.batch_mean", description="batch mean of a monitored feature"
        ),
    }


# ---- recording (both exports) -----------------------------------------------------------
def record_rpc_start(service: str, method: str, rpc_type: str) -> None:
    RPC_STARTED.labels(service, method, rpc_type).inc()


def record_rpc(service: str, method: str, rpc_type: str, code: str, elapsed_s: float) -> None:
    """One finished RPC: its status code and latency."""
    RPC_HANDLED.labels(service, method, rpc_type, code).inc()
    RPC_SECONDS.labels(service, method, rpc_type).observe(elapsed_s)
    instruments()["rpc"].record(
        elapsed_s * 1e3,
        {
            attr.RPC_SYSTEM: "grpc",
            attr.RPC_SERVICE: service,
            attr.RPC_METHOD: method,
            attr.RPC_STATUS_CODE: code,
        },
    )


def record_items(method: str, outcomes: Iterable[str]) -> None:
    """Per-item outcomes of a batch (`ok`, `duplicate`, `invalid`, `failed`)."""
    for outcome, count in Tally(outcomes).items():
        ITEMS.labels(method, outcome).inc(count)


def record_redis_error(operation: str) -> None:
    REDIS_ERRORS.labels(operation).inc()


def record_model(
    name: str, version: str, elapsed_s: float | None, answers: Mapping[tuple[str, str], int]
) -> None:
    """One model on one batch: its latency (None when it did not run) and how many answers
    had each (status name, severity name)."""
    tools = instruments()
    if elapsed_s is not None:
        MODEL_SECONDS.labels(name, version).observe(elapsed_s)
        tools["model"].record(elapsed_s * 1e3, {attr.MODEL_NAME: name, attr.MODEL_VERSION: version})
    for (status, severity), count in answers.items():
        MODEL_OUTPUTS.labels(name, version, status, severity).inc(count)
        tools["outputs"].add(
            count,
            {
                attr.MODEL_NAME: name,
                attr.MODEL_VERSION: version,
                attr.MODEL_STATUS: status,
                attr.MODEL_SEVERITY: severity,
            },
        )


def record_feature_mean(feature: str, value: float) -> None:
    FEATURE_MEAN.labels(feature).set(value)
    instruments()["feature"].record(value, {attr.FEATURE_NAME: feature})


def record_online(metrics: Any) -> None:
    """One version's online figures (a gridtwin.v1.OnlineMetrics), as last read from history."""
    labels = (metrics.model, metrics.version)
    if metrics.forecast_intervals:
        ONLINE_MAPE.labels(*labels, "online").set(metrics.online_mape_pct)
        ONLINE_MAPE.labels(*labels, "registry").set(metrics.registry_mape_pct)
    if metrics.alarms_confirmed or metrics.alarms_dismissed:
        ALARM_ACKS.labels(*labels, "confirmed").set(metrics.alarms_confirmed)
        ALARM_ACKS.labels(*labels, "dismissed").set(metrics.alarms_dismissed)
        ALARM_PRECISION.labels(*labels).set(metrics.alarm_precision)


def record_drift(name: str, version: str, psi_by_column: Mapping[str, float], drifting: bool) -> None:
    """The drift window's PSI per column and the verdict, as last computed."""
    for column, value in psi_by_column.items():
        DRIFT_PSI.labels(name, version, column).set(value)
    DRIFTING.labels(name, version).set(1.0 if drifting else 0.0)
