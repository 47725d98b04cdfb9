"""Features: updates each meter's rolling window in Redis (one atomic script per batch, so
replicas never lose a reading) and returns the feature vectors (gridtwin.features)."""

from __future__ import annotations

import grpc

from gridtwin.core.config import settings
from gridtwin.core.redis_client import connect, is_up, redis_span
from gridtwin.core.server import ServiceSpec
from gridtwin.features.matrix import to_message
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.features.state import FeatureState
from gridtwin.v1 import reading_pb2, services_pb2, services_pb2_grpc


class FeaturesServicer(services_pb2_grpc.FeaturesServicer):
    def __init__(self) -> None:
        cfg = settings()
        self.redis = connect(cfg.redis_url)
        self.state = FeatureState(self.redis, prefix=cfg.redis_prefix)

    async def Compute(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> services_pb2.FeatureBatch:
        readings = request.readings
        with redis_span("rolling window update", batch_size=len(readings)):
            matrix = await self.state.update_and_compute(readings)
        return services_pb2.FeatureBatch(features=to_message(matrix, SCHEMA_VERSION))

    async def GetSchema(
        self, request: services_pb2.FeatureSchemaRequest, context: grpc.aio.ServicerContext
    ) -> services_pb2.FeatureSchema:
        return services_pb2.FeatureSchema(version=SCHEMA_VERSION, names=FEATURE_NAMES)


def spec() -> ServiceSpec:
    servicer = FeaturesServicer()

    def register(server: grpc.aio.Server) -> list[str]:
        services_pb2_grpc.add_FeaturesServicer_to_server(servicer, server)
        return ["gridtwin.v1.Features"]

    async def ready() -> bool:
        return await is_up(servicer.redis)

    async def stop() -> None:
        await servicer.redis.aclose()

    return ServiceSpec(name="features", register=register, ready=ready, stop=stop)
