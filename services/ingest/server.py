"""Ingest: validates each reading, de-duplicates on (meter_id, timestamp), fans out to features.

De-duplication is idempotent: the first copy of a reading claims its key with SET NX and,
once features are computed, the key holds the feature vector, so a replay returns the same
features flagged `duplicate` without touching the meter's rolling state. If the feature
call fails the claims are released, so a retry is processed rather than lost.
"""

from __future__ import annotations

import time

import grpc
from google.rpc import code_pb2

from gridtwin.core.channels import make_channel
from gridtwin.core.config import env_int, service_addr, settings
from gridtwin.core.errors import bad_request, error_status
from gridtwin.core.redis_client import connect, is_up, redis_span
from gridtwin.core.server import ServiceSpec
from gridtwin.core.tracing import remaining_time
from gridtwin.features.state import FeatureState
from gridtwin.v1 import reading_pb2, services_pb2, services_pb2_grpc
from services.ingest.validation import Limits, validate_reading

PENDING = b"pending"


def dedup_key(prefix: str, reading: reading_pb2.Reading) -> str:
    ts = reading.timestamp
    return f"{prefix}dedup:{reading.meter_id}:{ts.seconds}.{ts.nanos:09d}"


class IngestServicer(services_pb2_grpc.IngestServicer):
    def __init__(self, features_addr: str, limits: Limits) -> None:
        cfg = settings()
        self.prefix = cfg.redis_prefix
        self.redis = connect(cfg.redis_url)
        self.state = FeatureState(self.redis, prefix=self.prefix)
        self.channel = make_channel(features_addr)
        self.features = services_pb2_grpc.FeaturesStub(self.channel)
        self.limits = limits
        self.dedup_ttl_s = env_int("DEDUP_TTL_S", 86_400)
        self.deadline_s = cfg.ingest_deadline_s

    async def Ingest(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> services_pb2.IngestResponse:
        readings = request.readings
        results = [services_pb2.IngestResult() for _ in readings]
        now = time.time()

        meters = sorted({r.meter_id for r in readings if r.meter_id})
        profiles = await self.state.nominal_for(meters) if meters else {}
        nominal = {m: p.nominal_voltage_v for m, p in profiles.items() if p is not None}
        valid: list[int] = []
        for i, reading in enumerate(readings):
            violations = validate_reading(reading, nominal.get(reading.meter_id), self.limits, now)
            if violations:
                results[i].status.CopyFrom(bad_request(violations))
            else:
                valid.append(i)
        if not valid:
            return services_pb2.IngestResponse(results=results)

        keys = [dedup_key(self.prefix, readings[i]) for i in valid]
        with redis_span("dedup claim", batch_size=len(keys)):
            pipe = self.redis.pipeline(transaction=False)
            for key in keys:
                pipe.set(key, PENDING, nx=True, ex=self.dedup_ttl_s)
            claimed = await pipe.execute()

        fresh: list[int] = []
        first_in_batch: dict[str, int] = {}
        replays: list[tuple[int, str]] = []
        for i, key, won in zip(valid, keys, claimed, strict=True):
            if won:
                fresh.append(i)
                first_in_batch[key] = i
            else:
                replays.append((i, key))

        if fresh:
            batch = reading_pb2.ReadingBatch(readings=[readings[i] for i in fresh])
            try:
                computed = await self.features.Compute(batch, timeout=remaining_time(self.deadline_s))
            except grpc.aio.AioRpcError as exc:
                # Release the claims: the readings were not processed and must not read as seen.
                with redis_span("dedup release", batch_size=len(fresh)):
                    await self.redis.delete(*[dedup_key(self.prefix, readings[i]) for i in fresh])
                failure = error_status(exc.code(), f"features: {exc.details()}")
                for i in fresh:
                    results[i].status.CopyFrom(failure)
                fresh = []
            else:
                with redis_span("dedup store", batch_size=len(fresh)):
                    pipe = self.redis.pipeline(transaction=False)
                    for i, vector in zip(fresh, computed.vectors, strict=True):
                        results[i].features.CopyFrom(vector)
                        pipe.set(dedup_key(self.prefix, readings[i]), vector.SerializeToString(), ex=self.dedup_ttl_s)
                    await pipe.execute()

        if replays:
            with redis_span("dedup lookup", batch_size=len(replays)):
                stored = await self.redis.mget([key for _, key in replays])
            for (i, key), value in zip(replays, stored, strict=True):
                results[i].duplicate = True
                if key in first_in_batch and results[first_in_batch[key]].HasField("features"):
                    results[i].features.CopyFrom(results[first_in_batch[key]].features)
                elif value and value != PENDING:
                    results[i].features.ParseFromString(value)
                else:
                    results[i].status.CopyFrom(
                        error_status(
                            grpc.StatusCode.ABORTED,
                            "a reading with this (meter_id, timestamp) is being processed; retry",
                        )
                    )
        for result in results:
            if not result.HasField("status"):
                result.status.code = code_pb2.OK
        return services_pb2.IngestResponse(results=results)


def spec() -> ServiceSpec:
    servicer = IngestServicer(service_addr("features"), Limits.from_env())

    def register(server: grpc.aio.Server) -> list[str]:
        services_pb2_grpc.add_IngestServicer_to_server(servicer, server)
        return ["gridtwin.v1.Ingest"]

    async def ready() -> bool:
        return await is_up(servicer.redis)

    async def stop() -> None:
        await servicer.channel.close()
        await servicer.redis.aclose()

    return ServiceSpec(name="ingest", register=register, ready=ready, stop=stop)
