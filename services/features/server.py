"""Features: updates each meter's rolling window in Redis (one atomic script per batch on a
single Redis, per hash slot on Redis Cluster, so replicas never lose a reading) and returns the
feature vectors (gridtwin.features).

The same script marks each reading's de-duplication key *applied* and stores its feature inputs
(`gridtwin.ingest.dedup`), so a reading is in the rolling state if and only if its key is
applied or assessed, and a reading whose answer from here is lost can still be assessed: ingest
claims the key before this call, only releases a claim that is still pending, and recomputes a
lost row from the stored inputs."""

from __future__ import annotations

import warnings

import grpc
import numpy as np

from gridtwin.core.config import settings
from gridtwin.core.redis_client import connect, redis_ready, redis_span
from gridtwin.core.server import ServiceSpec
from gridtwin.core.telemetry import DRIFT_FEATURES, record_feature_mean
from gridtwin.features.matrix import to_message
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.features.state import FeatureState
from gridtwin.ingest.dedup import commit_marks
from gridtwin.v1 import reading_pb2, services_pb2, services_pb2_grpc

_DRIFT_COLUMNS = [FEATURE_NAMES.index(name) for name in DRIFT_FEATURES]


def record_feature_means(matrix: np.ndarray) -> None:
    """Batch means of the monitored features: their distribution over time is feature drift."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column (e.g. no THD)
        means = np.nanmean(matrix[:, _DRIFT_COLUMNS], axis=0)
    for name, value in zip(DRIFT_FEATURES, means, strict=True):
        if np.isfinite(value):
            record_feature_mean(name, float(value))


class FeaturesServicer(services_pb2_grpc.FeaturesServicer):
    def __init__(self) -> None:
        cfg = settings()
        self.redis = connect(cfg.redis_url)
        self.prefix = cfg.redis_prefix
        self.state = FeatureState(self.redis, prefix=self.prefix)
        self.dedup_ttl_s = cfg.dedup_ttl_s

    async def Compute(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> services_pb2.FeatureBatch:
        readings = request.readings
        with redis_span("rolling window update", batch_size=len(readings)):
            marks = commit_marks(self.prefix, readings, self.dedup_ttl_s)
            matrix = await self.state.update_and_compute(readings, marks)
        if len(readings):
            record_feature_means(matrix)
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
        return await redis_ready(servicer.redis, settings().redis_prefix, "features")

    async def stop() -> None:
        await servicer.redis.aclose()

    return ServiceSpec(name="features", register=register, ready=ready, stop=stop)
