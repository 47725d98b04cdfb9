"""The request path: ingest (→ features) → monitoring, maintenance, energy in parallel →
decision → one Assessment per reading.

A batch makes one RPC per hop. Each module call has its own deadline (never longer than the
caller's remaining deadline); a module that is down or late marks its four fields
UNAVAILABLE and the Assessment is still returned, with the module's status and the time
spent in each stage. Decision outputs computed without an upstream module are DEGRADED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.rpc import code_pb2

from gridtwin.core.channels import make_channel
from gridtwin.core.config import service_addr, settings
from gridtwin.core.errors import upstream_failure
from gridtwin.core.telemetry import remaining_time, trace_id_hex, tracer
from gridtwin.registry import MODULE_MODELS
from gridtwin.v1 import assessment_pb2, reading_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)

UPSTREAM_MODULES = ("monitoring", "maintenance", "energy")
STUBS = {
    "monitoring": services_pb2_grpc.MonitoringStub,
    "maintenance": services_pb2_grpc.MaintenanceStub,
    "energy": services_pb2_grpc.EnergyStub,
    "decision": services_pb2_grpc.DecisionStub,
}


@dataclass
class ModuleOutcome:
    module: str
    results: list[assessment_pb2.Assessment] | None
    status: int  # assessment_pb2.ModelStatus
    detail: str
    duration_ms: float


class Orchestrator:
    def __init__(self) -> None:
        cfg = settings()
        self.ingest_deadline_s = cfg.ingest_deadline_s
        self.module_deadline_s = cfg.module_deadline_s
        self.decision_deadline_s = cfg.decision_deadline_s
        self.channels = {name: make_channel(service_addr(name)) for name in ("ingest", *STUBS)}
        self.ingest = services_pb2_grpc.IngestStub(self.channels["ingest"])
        self.modules = {name: stub(self.channels[name]) for name, stub in STUBS.items()}

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()

    async def _evaluate(
        self, module: str, request: services_pb2.ModuleRequest, deadline_s: float
    ) -> ModuleOutcome:
        started = time.perf_counter()
        try:
            response = await self.modules[module].Evaluate(request, timeout=remaining_time(deadline_s))
        except grpc.aio.AioRpcError as exc:
            late = exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            return ModuleOutcome(
                module,
                None,
                assessment_pb2.DEGRADED if late else assessment_pb2.UNAVAILABLE,
                f"{exc.code().name}: {upstream_failure(module, exc).message}",
                (time.perf_counter() - started) * 1e3,
            )
        return ModuleOutcome(
            module, list(response.results), assessment_pb2.OK, "", (time.perf_counter() - started) * 1e3
        )

    async def assess(self, readings: Sequence[reading_pb2.Reading]) -> list[assessment_pb2.Assessment]:
        """One Assessment per reading, in order; each carries its own status."""
        started = time.perf_counter()
        with tracer().start_as_current_span("assess", attributes={"batch.size": len(readings)}) as span:
            out = [assessment_pb2.Assessment(meter_id=r.meter_id, timestamp=r.timestamp) for r in readings]
            trace_id = trace_id_hex()
            try:
                ingested = await self.ingest.Ingest(
                    reading_pb2.ReadingBatch(readings=readings),
                    timeout=remaining_time(self.ingest_deadline_s),
                )
            except grpc.aio.AioRpcError as exc:
                failure = upstream_failure("ingest", exc)
                for a in out:
                    a.status.CopyFrom(failure)
                    a.trace_id = trace_id
                return out
            t_ingest = (time.perf_counter() - started) * 1e3

            accepted: list[int] = []
            schema = ingested.features.schema_version
            for i, result in enumerate(ingested.results):
                out[i].status.CopyFrom(result.status)
                out[i].trace_id = trace_id
                if result.status.code == code_pb2.OK:
                    out[i].duplicate = result.duplicate
                    # A duplicate carries no feature row and reaches no model (per-meter model
                    # state must not count it twice): it is answered flagged, without outputs.
                    if not result.duplicate:
                        out[i].feature_schema_version = schema
                        accepted.append(i)
            span.set_attribute("batch.accepted", len(accepted))
            if not accepted:
                return out

            # Feature rows come in request order of the accepted readings.
            request = services_pb2.ModuleRequest(
                readings=[readings[i] for i in accepted], features=ingested.features
            )
            outcomes = await asyncio.gather(
                *(self._evaluate(m, request, self.module_deadline_s) for m in UPSTREAM_MODULES)
            )
            upstream = [assessment_pb2.Assessment() for _ in accepted]
            for outcome in outcomes:
                if outcome.results is not None:
                    for merged, partial in zip(upstream, outcome.results, strict=True):
                        merged.MergeFrom(partial)
            request.upstream.extend(upstream)
            decision = await self._evaluate("decision", request, self.decision_deadline_s)
            outcomes.append(decision)

            missing_upstream = [o.module for o in outcomes[:-1] if o.results is None]
            for k, i in enumerate(accepted):
                assessment = out[i]
                assessment.MergeFrom(upstream[k])
                if decision.results is not None:
                    assessment.MergeFrom(decision.results[k])
                for outcome in outcomes:
                    if outcome.results is None:
                        _mark_unavailable(assessment, outcome)
                if missing_upstream and decision.results is not None:
                    _mark_degraded(assessment, MODULE_MODELS["decision"], missing_upstream)
                assessment.severity = _worst_severity(assessment)
                assessment.modules.extend(
                    assessment_pb2.ModuleStatus(
                        module=o.module, status=o.status, detail=o.detail, duration_ms=o.duration_ms
                    )
                    for o in outcomes
                )
                total = (time.perf_counter() - started) * 1e3
                assessment.timings.extend(
                    [
                        assessment_pb2.StageTiming(stage="ingest", duration_ms=t_ingest),
                        *(
                            assessment_pb2.StageTiming(stage=o.module, duration_ms=o.duration_ms)
                            for o in outcomes
                        ),
                        assessment_pb2.StageTiming(stage="total", duration_ms=total),
                    ]
                )
            return out


_LOG_EVERY_S = 10.0
_last_logged: dict[tuple[str, str], float] = {}


def _mark_unavailable(assessment: assessment_pb2.Assessment, outcome: ModuleOutcome) -> None:
    for name in MODULE_MODELS[outcome.module]:
        field = getattr(assessment, name)
        field.Clear()
        field.info.status = assessment_pb2.UNAVAILABLE
        field.info.model_name = name
        field.info.detail = outcome.detail


def _mark_degraded(assessment: assessment_pb2.Assessment, names: Sequence[str], missing: list[str]) -> None:
    for name in names:
        info = getattr(assessment, name).info
        if info.status == assessment_pb2.OK:
            info.status = assessment_pb2.DEGRADED
            info.detail = "computed without outputs of: " + ", ".join(missing)


def _worst_severity(assessment: assessment_pb2.Assessment) -> int:
    worst = assessment_pb2.SEVERITY_UNSPECIFIED
    for names in MODULE_MODELS.values():
        for name in names:
            info = getattr(assessment, name).info
            if info.status in (assessment_pb2.OK, assessment_pb2.DEGRADED):
                worst = max(worst, info.severity)
    return worst
