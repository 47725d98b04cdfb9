"""One Assess = one trace: gateway → ingest → features (with its Redis call) → each module →
decision, parent to child, collected by an OTLP/gRPC receiver running inside the test."""

from __future__ import annotations

import threading
import time
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from gridtwin.mesh import free_port
from gridtwin.v1 import gateway_pb2_grpc
from tests.conftest import cleanup_prefix, start_mesh
from tests.readings import make_reading

pytestmark = pytest.mark.mesh


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans: list[dict] = []
        self.lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        with self.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            {
                                "service": service,
                                "name": span.name,
                                "trace": span.trace_id.hex(),
                                "id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "start": span.start_time_unix_nano,
                                "end": span.end_time_unix_nano,
                            }
                        )
        return trace_service_pb2.ExportTraceServiceResponse()


class MetricsReceiver(metrics_service_pb2_grpc.MetricsServiceServicer):
    """Keeps (service, metric name, data point attributes) of every exported data point."""

    def __init__(self) -> None:
        self.points: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def Export(self, request, context):  # noqa: N802 - gRPC method name
        with self.lock:
            for resource_metrics in request.resource_metrics:
                service = next(
                    a.value.string_value
                    for a in resource_metrics.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_metrics.scope_metrics:
                    for metric in scope.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        for point in data.data_points:
                            attrs = {a.key: a.value.string_value for a in point.attributes}
                            self.points.append((service, metric.name, attrs))
        return metrics_service_pb2.ExportMetricsServiceResponse()


@pytest.fixture
def receiver():
    """An OTLP/gRPC collector in the test: (trace receiver, metrics receiver, endpoint)."""
    traces, metrics = Receiver(), MetricsReceiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(traces, server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(metrics, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    yield traces, metrics, f"http://127.0.0.1:{port}"
    server.stop(0)


def test_services_export_rpc_model_and_feature_metrics(redis_url, empty_registry, receiver):
    _, metrics, endpoint = receiver
    mesh = start_mesh(
        redis_url, empty_registry, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_METRIC_EXPORT_INTERVAL="200"
    )
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway_pb2_grpc.GridTwinStub(channel).Assess(make_reading("metered-m"), timeout=10)

        def seen() -> set[tuple[str, str, str]]:
            with metrics.lock:
                return {
                    (
                        svc,
                        name,
                        attrs.get("rpc.method") or attrs.get("model.name") or attrs.get("feature.name", ""),
                    )
                    for svc, name, attrs in metrics.points
                }

        wanted = {
            ("gridtwin-gateway", "rpc.server.duration", "Assess"),
            ("gridtwin-ingest", "rpc.server.duration", "Ingest"),
            ("gridtwin-monitoring", "gridtwin.model.outputs", "voltage_anomaly"),
            ("gridtwin-features", "gridtwin.feature.batch_mean", "frequency_hz"),
        }
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not wanted <= seen():
            time.sleep(0.2)
    finally:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)
    assert wanted <= seen(), sorted(seen())
    statuses = {a.get("model.status") for s, n, a in metrics.points if n == "gridtwin.model.outputs"}
    assert statuses == {"UNAVAILABLE"}  # the registry is empty: every answer says so


def _ancestors(span: dict, by_id: dict[str, dict]) -> list[dict]:
    chain = []
    while span["parent"] and span["parent"] in by_id:
        span = by_id[span["parent"]]
        chain.append(span)
    return chain


def test_one_assess_is_one_trace_spanning_the_whole_path(redis_url, empty_registry, receiver):
    collector, _, endpoint = receiver
    mesh = start_mesh(
        redis_url, empty_registry, OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
    )
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            assessment = gateway_pb2_grpc.GridTwinStub(channel).Assess(make_reading("traced-m"), timeout=10)
        trace_id = assessment.trace_id
        assert len(trace_id) == 32
        wanted = {"gateway", "ingest", "features", "monitoring", "maintenance", "energy", "decision"}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with collector.lock:
                spans = [s for s in collector.spans if s["trace"] == trace_id]
            if {s["service"].removeprefix("gridtwin-") for s in spans} >= wanted and any(
                s["name"].startswith("redis") for s in spans
            ):
                break
            time.sleep(0.2)
    finally:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)

    by_id = {s["id"]: s for s in spans}
    server_kind = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER
    servers = {s["service"].removeprefix("gridtwin-"): s for s in spans if s["kind"] == server_kind}
    assert set(servers) == wanted, sorted((s["service"], s["name"]) for s in spans)
    root = servers["gateway"]
    assert root["parent"] == "" or root["parent"] not in by_id

    def services_above(service: str) -> list[str]:
        return [a["service"].removeprefix("gridtwin-") for a in _ancestors(servers[service], by_id)]

    assert "gateway" in services_above("ingest")
    assert services_above("features")[:3].count("ingest") >= 1 and "gateway" in services_above("features")
    for module in ("monitoring", "maintenance", "energy", "decision"):
        assert "gateway" in services_above(module), module
    redis_spans = [s for s in spans if s["name"].startswith("redis") and s["service"] == "gridtwin-features"]
    assert redis_spans and any(
        a["id"] == servers["features"]["id"] for a in _ancestors(redis_spans[0], by_id)
    )
    # Decision runs after the three upstream modules have answered.
    for module in ("monitoring", "maintenance", "energy"):
        assert servers["decision"]["start"] >= servers[module]["end"], module
    # Everything hangs off the one gateway span.
    assert all(_ancestors(s, by_id)[-1]["id"] == root["id"] for s in spans if s["id"] != root["id"])
