"""OpenTelemetry metrics for SREs: RPC latency and errors, per-model latency and outputs,
and feature drift. Exported over OTLP/gRPC to the same endpoint as traces; without an
endpoint the API's no-op meter is used.

Instruments (units in the names, OTel semantic conventions where they exist):
- `rpc.server.duration` (ms) by rpc.service, rpc.method, rpc.grpc.status_code: p50/p95/p99
  and error rate per RPC.
- `gridtwin.model.duration` (ms per batch) and `gridtwin.model.outputs` (count) by model,
  version, status and severity: per-model latency, and prediction drift as the mix of
  severities and statuses over time.
- `gridtwin.feature.batch_mean` by feature: the batch means of key features (voltage pu,
  frequency, PF, VUF, THD, load), whose distribution over time shows feature drift.
"""

from __future__ import annotations

import os
from functools import cache

from opentelemetry import metrics

from gridtwin.core.tracing import tracing_configured

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


def setup_metrics(service_name: str) -> None:
    global _provider
    if not tracing_configured():
        return
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=endpoint, insecure=not endpoint.startswith("https://")),
        export_interval_millis=float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "15000")),
    )
    _provider = MeterProvider(
        resource=Resource.create({"service.name": service_name}), metric_readers=[reader]
    )
    metrics.set_meter_provider(_provider)


def shutdown_metrics() -> None:
    if _provider is not None:
        _provider.shutdown()


@cache
def instruments() -> dict[str, object]:
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
