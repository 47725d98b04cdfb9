"""The telemetry package: importable in any order, trace ids in logs, errors without their text."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys

import grpc
import pytest
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import REGISTRY

from gridtwin.core.logs import JsonFormatter
from gridtwin.core.telemetry import ServerTelemetryInterceptor, record_items, record_model


@pytest.mark.parametrize(
    "first",
    [
        "gridtwin.core.telemetry",
        "gridtwin.core.telemetry.tracing",
        "gridtwin.core.telemetry.metrics",
        "gridtwin.core.telemetry.interceptors",
        "gridtwin.core.telemetry.exposition",
        "gridtwin.core.server",
    ],
)
def test_imports_in_any_order(first):
    """No import cycle between tracing and metrics: each module imports first on its own."""
    code = f"import {first}; import gridtwin.core.telemetry as t; assert t.record_model and t.tracer"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_log_lines_carry_the_trace_and_span_ids():
    formatter = JsonFormatter("test")
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "inside", (), None)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        entry = json.loads(formatter.format(record))
    ctx = span.get_span_context()
    assert entry["trace_id"] == format(ctx.trace_id, "032x")
    assert entry["span_id"] == format(ctx.span_id, "016x")
    outside = json.loads(formatter.format(record))
    assert "trace_id" not in outside


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_batch_outcomes_and_model_answers_are_counted():
    before = value("gridtwin_items_total", grpc_method="UnitBatch", outcome="invalid")
    record_items("UnitBatch", ["ok", "invalid", "ok", "invalid", "duplicate"])
    assert value("gridtwin_items_total", grpc_method="UnitBatch", outcome="invalid") == before + 2
    record_model("unit_model", "v1", 0.003, {("OK", "WARNING"): 4, ("FAILED", "SEVERITY_UNSPECIFIED"): 1})
    assert (
        value(
            "gridtwin_model_outputs_total", model="unit_model", version="v1", status="OK", severity="WARNING"
        )
        >= 4
    )
    assert value("gridtwin_model_duration_seconds_count", model="unit_model", version="v1") >= 1


def test_an_unhandled_error_reaches_the_caller_as_internal_without_its_text():
    async def scenario() -> tuple[grpc.StatusCode, str, float]:
        async def explode(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            raise RuntimeError("password=hunter2 in /etc/secret.conf")

        server = grpc.aio.server(interceptors=[ServerTelemetryInterceptor()])
        handler = grpc.method_handlers_generic_handler(
            "unit.Boom", {"Go": grpc.unary_unary_rpc_method_handler(explode)}
        )
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await channel.unary_unary("/unit.Boom/Go")(b"", timeout=5)
        finally:
            await server.stop(0)
        counted = value(
            "grpc_server_handled_total",
            grpc_service="unit.Boom",
            grpc_method="Go",
            grpc_type="unary",
            grpc_code="INTERNAL",
        )
        return err.value.code(), err.value.details(), counted

    code, details, counted = asyncio.run(scenario())
    assert code == grpc.StatusCode.INTERNAL
    assert "hunter2" not in details and "secret" not in details and "internal error" in details
    assert counted >= 1


def test_readyz_follows_the_health_status(monkeypatch):
    import urllib.error
    import urllib.request

    from gridtwin.core.telemetry import set_serving, start_metrics_server
    from gridtwin.mesh import free_port

    port = free_port()
    monkeypatch.setenv("METRICS_PORT", str(port))
    assert start_metrics_server(0, addr="127.0.0.1") == port
    set_serving(False)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert err.value.code == 503
    set_serving(True)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"# TYPE grpc_server_handled_total counter" in response.read()
