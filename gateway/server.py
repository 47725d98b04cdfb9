"""The gateway: `gridtwin.v1.GridTwin`, the only public service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
from google.rpc import code_pb2

from gateway.history import HistoryClient, subscribe, subscribe_violations
from gateway.orchestrator import Orchestrator
from gateway.publisher import Publisher
from gridtwin.core.config import settings
from gridtwin.core.errors import abort_with_status, bad_request
from gridtwin.core.queues import ByteBoundedQueue
from gridtwin.core.redis_client import connect, redis_ready
from gridtwin.core.server import ServiceSpec
from gridtwin.core.telemetry import observe_drops, observe_queue, record_items, track_queue
from gridtwin.registry import MODEL_MODULE, MODULE_MODELS
from gridtwin.security.auth import interceptors_from_env, log_auth_mode
from gridtwin.v1 import assessment_pb2, gateway_pb2, gateway_pb2_grpc, reading_pb2, services_pb2

_END = object()


def outcomes(assessments: list[assessment_pb2.Assessment]) -> list[str]:
    """Per-item outcome for `gridtwin_items_total`: ok, duplicate, invalid or failed."""
    out = []
    for a in assessments:
        if a.status.code == code_pb2.OK:
            out.append("duplicate" if a.duplicate else "ok")
        else:
            out.append("invalid" if a.status.code == code_pb2.INVALID_ARGUMENT else "failed")
    return out


class GridTwinServicer(gateway_pb2_grpc.GridTwinServicer):
    def __init__(self) -> None:
        cfg = settings()
        self.prefix = cfg.redis_prefix
        self.redis = connect(cfg.redis_url)
        self.orchestrator = Orchestrator()
        self.publisher = Publisher(self.redis, self.prefix)
        self.history = HistoryClient()
        self.max_batch = cfg.gateway_max_batch
        self.stream_batch = cfg.gateway_stream_batch
        # Readings buffered per stream while a batch is in flight, bounded in bytes.
        self.stream_buffer_bytes = cfg.gateway_stream_buffer_bytes

    async def Assess(
        self, request: reading_pb2.Reading, context: grpc.aio.ServicerContext
    ) -> assessment_pb2.Assessment:
        (assessment,) = await self.orchestrator.assess([request])
        record_items("Assess", outcomes([assessment]))
        if assessment.status.code != code_pb2.OK:
            await abort_with_status(context, assessment.status)
        self.publisher.publish([request], [assessment])
        return assessment

    async def AssessBatch(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> assessment_pb2.AssessmentBatch:
        if len(request.readings) > self.max_batch:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"readings: {len(request.readings)} items exceed the batch limit {self.max_batch}",
            )
        assessments = await self.orchestrator.assess(list(request.readings)) if request.readings else []
        record_items("AssessBatch", outcomes(assessments))
        self.publisher.publish(request.readings, assessments)
        return assessment_pb2.AssessmentBatch(assessments=assessments)

    async def AssessStream(
        self, request_iterator: AsyncIterator[reading_pb2.Reading], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[assessment_pb2.Assessment]:
        # Readings that arrive while a batch is in flight form the next batch: one RPC per hop
        # per batch, answers in arrival order.
        queue = ByteBoundedQueue(self.stream_buffer_bytes)
        track_queue("assess_stream", queue)

        async def read() -> None:
            try:
                async for reading in request_iterator:
                    await queue.put(reading, reading.ByteSize())
            finally:
                queue.put_nowait(_END)

        reader = asyncio.create_task(read())
        try:
            done = False
            while not done:
                first = await queue.get()
                if first is _END:
                    break
                batch = [first]
                while len(batch) < self.stream_batch and not queue.empty():
                    item = queue.get_nowait()
                    if item is _END:
                        done = True
                        break
                    batch.append(item)
                assessments = await self.orchestrator.assess(batch)  # type: ignore[arg-type]
                record_items("AssessStream", outcomes(assessments))
                self.publisher.publish(batch, assessments)  # type: ignore[arg-type]
                for assessment in assessments:
                    yield assessment
        finally:
            reader.cancel()

    async def Subscribe(
        self, request: gateway_pb2.SubscribeRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[assessment_pb2.Assessment]:
        violations = subscribe_violations(request)
        if violations:
            await abort_with_status(context, bad_request(violations, "invalid subscribe request"))
        async for assessment in subscribe(self.redis, self.prefix, request):
            yield assessment

    async def History(
        self, request: gateway_pb2.HistoryRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.HistoryPage:
        return await self.history.history(request, context)

    async def ListMeters(
        self, request: gateway_pb2.ListMetersRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.MeterList:
        return await self.history.list_meters(request, context)

    async def Report(
        self, request: gateway_pb2.ReportRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.ReportFile:
        return await self.history.report(request, context)

    async def ListModels(
        self, request: services_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.ModelCatalog:
        async def one(module: str) -> list[services_pb2.RegisteredModel]:
            try:
                catalog = await self.orchestrator.modules[module].ListModels(request, timeout=2.0)
                return list(catalog.models)
            except grpc.aio.AioRpcError as exc:
                return [
                    services_pb2.RegisteredModel(
                        name=name,
                        module=module,
                        status=assessment_pb2.UNAVAILABLE,
                        detail=f"{module}: {exc.code().name}",
                    )
                    for name in MODULE_MODELS[module]
                ]

        parts = await asyncio.gather(*(one(m) for m in MODULE_MODELS))
        return services_pb2.ModelCatalog(models=[m for part in parts for m in part])

    async def ModelHealth(
        self, request: services_pb2.ModelHealthRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.ModelCatalog:
        """The lifecycle view of the chosen models (every module's ListModels carries it)."""
        unknown = sorted(set(request.models) - set(MODEL_MODULE))
        if unknown:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"models: unknown {unknown}; known: {', '.join(MODEL_MODULE)}",
            )
        wanted = list(request.models) or list(MODEL_MODULE)
        catalog, (online, why) = await asyncio.gather(
            self.ListModels(services_pb2.ListModelsRequest(), context), self.history.online(wanted)
        )
        models = [m for m in catalog.models if m.name in wanted]
        for model in models:
            model.online.extend(o for o in online if o.model == model.name)
            model.online_detail = why or ("" if model.online else "no online figures in history yet")
        return services_pb2.ModelCatalog(models=models)

    async def AcknowledgeAlarm(
        self, request: services_pb2.AlarmAcknowledgement, context: grpc.aio.ServicerContext
    ) -> services_pb2.AlarmAcknowledgement:
        return await self.history.acknowledge(request, context)


def spec() -> ServiceSpec:
    servicer = GridTwinServicer()
    observe_queue("publisher", lambda: servicer.publisher.queue.qsize())
    observe_drops("publisher", lambda: servicer.publisher.dropped)

    def register(server: grpc.aio.Server) -> list[str]:
        gateway_pb2_grpc.add_GridTwinServicer_to_server(servicer, server)
        return ["gridtwin.v1.GridTwin"]

    async def start() -> None:
        log_auth_mode("gateway")
        servicer.publisher.start()

    async def ready() -> bool:
        return await redis_ready(servicer.redis, servicer.prefix, "gateway")

    async def stop() -> None:
        await servicer.publisher.stop()
        await servicer.orchestrator.close()
        await servicer.history.close()
        await servicer.redis.aclose()

    return ServiceSpec(
        name="gateway",
        register=register,
        start=start,
        ready=ready,
        stop=stop,
        long_lived_streams=True,
        # The public API's largest request (AssessBatch of GATEWAY_MAX_BATCH readings with extras).
        max_receive_bytes=settings().gateway_max_message_bytes,
        public=True,
        interceptors=interceptors_from_env(),
    )


__all__ = ["GridTwinServicer", "spec"]
