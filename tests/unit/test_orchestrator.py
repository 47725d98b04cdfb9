"""The gateway's orchestrator against real gRPC servers in this process that play ingest and
the four modules: per-item statuses, a late module DEGRADED, a down module UNAVAILABLE,
decision fields DEGRADED without their upstream, and the severity of what was answered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from google.rpc import code_pb2

from gridtwin.core.errors import error_status
from gridtwin.registry import MODULE_MODELS
from gridtwin.serving.model import output_class
from gridtwin.v1 import assessment_pb2, reading_pb2, services_pb2, services_pb2_grpc

SCHEMA = "test-schema"


class Ingest(services_pb2_grpc.IngestServicer):
    """Accepts every reading except meters named 'bad-*'; one feature column: the row index."""

    async def Ingest(self, request, context):  # noqa: N802 - gRPC method name
        results, rows = [], []
        for i, r in enumerate(request.readings):
            if r.meter_id.startswith("bad-"):
                results.append(
                    services_pb2.IngestResult(
                        status=error_status(grpc.StatusCode.INVALID_ARGUMENT, "meter_id")
                    )
                )
            else:
                results.append(services_pb2.IngestResult(status=error_status(grpc.StatusCode.OK, "")))
                rows.append(float(i))
        matrix = reading_pb2.FeatureMatrix(
            schema_version=SCHEMA, rows=len(rows), cols=1, values_f64le=np.asarray(rows, "<f8").tobytes()
        )
        return services_pb2.IngestResponse(results=results, features=matrix)


class Module:
    """Answers every model of `module` OK with the given severity, or misbehaves."""

    def __init__(self, module: str, severity: int, behaviour: str = "ok") -> None:
        self.module, self.severity, self.behaviour = module, severity, behaviour
        self.seen_upstream: list[int] = []

    async def Evaluate(self, request, context):  # noqa: N802 - gRPC method name
        if self.behaviour == "late":
            await asyncio.sleep(2.0)
        if self.behaviour == "down":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "model process gone")
        self.seen_upstream.append(len(request.upstream))
        results = []
        for _ in request.readings:
            a = assessment_pb2.Assessment()
            for name in MODULE_MODELS[self.module]:
                getattr(a, name).CopyFrom(
                    output_class(name)(
                        info=assessment_pb2.ModelInfo(
                            status=assessment_pb2.OK, model_name=name, severity=self.severity
                        )
                    )
                )
            results.append(a)
        return services_pb2.ModuleResponse(results=results)

    async def ListModels(self, request, context):  # noqa: N802 - gRPC method name
        return services_pb2.ModelCatalog()


ADDERS = {
    "monitoring": services_pb2_grpc.add_MonitoringServicer_to_server,
    "maintenance": services_pb2_grpc.add_MaintenanceServicer_to_server,
    "energy": services_pb2_grpc.add_EnergyServicer_to_server,
    "decision": services_pb2_grpc.add_DecisionServicer_to_server,
}


@pytest.fixture
async def servers(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Module]]:
    modules = {
        "monitoring": Module("monitoring", assessment_pb2.WARNING),
        "maintenance": Module("maintenance", assessment_pb2.CRITICAL, "late"),
        "energy": Module("energy", assessment_pb2.CRITICAL, "down"),
        "decision": Module("decision", assessment_pb2.ADVISORY),
    }
    started = []
    try:
        for name in ("ingest", *modules):
            server = grpc.aio.server()
            started.append(server)
            if name == "ingest":
                services_pb2_grpc.add_IngestServicer_to_server(Ingest(), server)
            else:
                ADDERS[name](modules[name], server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            monkeypatch.setenv(f"{name.upper()}_ADDR", f"127.0.0.1:{port}")
        monkeypatch.setenv("MODULE_DEADLINE_S", "0.5")
        monkeypatch.setenv("DECISION_DEADLINE_S", "0.5")
        yield modules
    finally:
        for server in started:
            await server.stop(None)


async def test_degraded_answer_per_item_and_per_module(servers: dict[str, Module]) -> None:
    from gateway.orchestrator import Orchestrator

    orchestrator = Orchestrator()
    try:
        readings = [reading_pb2.Reading(meter_id=m) for m in ("m1", "bad-1", "m2")]
        out = await orchestrator.assess(readings)
    finally:
        await orchestrator.close()

    assert [a.meter_id for a in out] == ["m1", "bad-1", "m2"]
    assert out[1].status.code == code_pb2.INVALID_ARGUMENT
    assert not out[1].HasField("voltage_anomaly") and not out[1].modules

    for a in (out[0], out[2]):
        assert a.status.code == code_pb2.OK
        modules = {m.module: m.status for m in a.modules}
        assert modules == {
            "monitoring": assessment_pb2.OK,
            "maintenance": assessment_pb2.DEGRADED,  # missed its deadline
            "energy": assessment_pb2.UNAVAILABLE,  # answered UNAVAILABLE
            "decision": assessment_pb2.OK,
        }
        for name in MODULE_MODELS["monitoring"]:
            assert getattr(a, name).info.status == assessment_pb2.OK
        for name in (*MODULE_MODELS["maintenance"], *MODULE_MODELS["energy"]):
            info = getattr(a, name).info
            assert info.status == assessment_pb2.UNAVAILABLE and info.detail
        for name in MODULE_MODELS["decision"]:
            info = getattr(a, name).info
            assert info.status == assessment_pb2.DEGRADED
            assert "maintenance" in info.detail and "energy" in info.detail
        # The CRITICAL answers of the failed modules never reached the client.
        assert a.severity == assessment_pb2.WARNING
        assert [t.stage for t in a.timings][0] == "ingest" and a.timings[-1].stage == "total"
    # Decision received the merged upstream of the two accepted readings.
    assert servers["decision"].seen_upstream == [2]


def test_worst_severity_ignores_models_that_did_not_answer() -> None:
    from gateway.orchestrator import _worst_severity

    a = assessment_pb2.Assessment()
    a.voltage_anomaly.info.status = assessment_pb2.FAILED
    a.voltage_anomaly.info.severity = assessment_pb2.CRITICAL
    a.voltage_sag.info.status = assessment_pb2.DEGRADED
    a.voltage_sag.info.severity = assessment_pb2.ADVISORY
    a.load_forecast.info.status = assessment_pb2.OK
    a.load_forecast.info.severity = assessment_pb2.NORMAL
    assert _worst_severity(a) == assessment_pb2.ADVISORY
