"""Ingest: validates each reading, de-duplicates on (meter_id, timestamp), fans out to features.

De-duplication is idempotent: the first copy of a reading claims its key with SET NX and,
once features are computed, the key holds the feature row (tagged with the schema version),
so a replay returns the same features flagged `duplicate` without touching the meter's
rolling state. If the feature
call fails the claims are released, so a retry is processed rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
import numpy as np
from google.rpc import code_pb2

from gridtwin.core.channels import make_channel
from gridtwin.core.config import env_int, service_addr, settings
from gridtwin.core.errors import bad_request, error_status
from gridtwin.core.redis_client import connect, is_up, redis_span
from gridtwin.core.server import ServiceSpec
from gridtwin.core.telemetry import remaining_time
from gridtwin.features.matrix import from_message, to_message
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.features.state import FeatureState
from gridtwin.v1 import reading_pb2, services_pb2, services_pb2_grpc
from services.ingest.validation import Limits, validate_reading

PENDING = b"pending"
log = logging.getLogger(__name__)


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
        self.schema_version = SCHEMA_VERSION
        self.n_features = len(FEATURE_NAMES)
        self._background: set[asyncio.Task[None]] = set()

    async def Ingest(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> services_pb2.IngestResponse:
        readings = request.readings
        results = [services_pb2.IngestResult() for _ in readings]
        now = time.time()

        # One Redis round trip before the feature call: the meters' stored profiles (for
        # the nominal-relative bounds) and the de-duplication claims of every reading with a
        # well-formed key. Claims of readings that then fail validation are released.
        meters = sorted({r.meter_id for r in readings if r.meter_id})
        keyed = [i for i, r in enumerate(readings) if r.meter_id and r.HasField("timestamp")]
        keys_by_index = {i: dedup_key(self.prefix, readings[i]) for i in keyed}
        with redis_span("profiles + dedup claim", batch_size=len(keyed)):
            pipe = self.redis.pipeline(transaction=False)
            self.state.queue_profile_reads(pipe, meters)
            for i in keyed:
                pipe.set(keys_by_index[i], PENDING, nx=True, ex=self.dedup_ttl_s)
            replies = await pipe.execute()
        profiles = self.state.parse_profiles(meters, replies[: len(meters)])
        won_by_index = dict(zip(keyed, replies[len(meters) :], strict=True))
        nominal = {m: p.nominal_voltage_v for m, p in profiles.items() if p is not None}

        valid: list[int] = []
        for i, reading in enumerate(readings):
            violations = validate_reading(reading, nominal.get(reading.meter_id), self.limits, now)
            if violations:
                results[i].status.CopyFrom(bad_request(violations))
            else:
                valid.append(i)

        # A claim won by an invalid reading passes to the first valid reading with the same
        # key in this batch, else it is released.
        valid_set = set(valid)
        owner: dict[str, int] = {}
        for i in keyed:
            if won_by_index[i]:
                owner[keys_by_index[i]] = i
        release = []
        for key, i in owner.items():
            if i in valid_set:
                continue
            heir = next((j for j in valid if keys_by_index.get(j) == key), None)
            if heir is None:
                release.append(key)
            else:
                owner[key] = heir
        if release:
            with redis_span("dedup release", batch_size=len(release)):
                await self.redis.delete(*release)
        if not valid:
            for result in results:
                result.feature_row = -1
            return services_pb2.IngestResponse(
                results=results, features=to_message(np.empty((0, self.n_features)), self.schema_version)
            )

        keys = [keys_by_index[i] for i in valid]
        claimed = [owner.get(keys_by_index[i]) == i for i in valid]

        fresh = [i for i, won in zip(valid, claimed, strict=True) if won]
        replays = [(i, key) for i, key, won in zip(valid, keys, claimed, strict=True) if not won]
        rows: dict[int, np.ndarray] = {}  # request index -> feature row

        if fresh:
            batch = reading_pb2.ReadingBatch(readings=[readings[i] for i in fresh])
            try:
                computed = await self.features.Compute(batch, timeout=remaining_time(self.deadline_s))
                matrix = from_message(computed.features)
            except (grpc.aio.AioRpcError, ValueError) as exc:
                # Release the claims: the readings were not processed and must not read as seen.
                with redis_span("dedup release", batch_size=len(fresh)):
                    await self.redis.delete(*[dedup_key(self.prefix, readings[i]) for i in fresh])
                if isinstance(exc, grpc.aio.AioRpcError):
                    failure = error_status(exc.code(), f"features: {exc.details()}")
                else:
                    failure = error_status(grpc.StatusCode.INTERNAL, f"features: {exc}")
                for i in fresh:
                    results[i].status.CopyFrom(failure)
            else:
                header = self.schema_version.encode() + b"\n"
                stored = {}
                for j, i in enumerate(fresh):
                    rows[i] = matrix[j]
                    stored[dedup_key(self.prefix, readings[i])] = header + matrix[j].tobytes()
                # Off the critical path: until it lands, a replay sees the claim and is told to
                # retry, never a wrong answer.
                self._spawn(self._store(stored))

        if replays:
            first_in_batch = {key: i for i, key in zip(valid, keys, strict=True) if i in rows}
            stored = await self._stored_rows([key for _, key in replays if key not in first_in_batch])
            for i, key in replays:
                results[i].duplicate = True
                if key in first_in_batch:
                    rows[i] = rows[first_in_batch[key]]
                elif stored.get(key) is not None:
                    rows[i] = stored[key]
                else:
                    results[i].status.CopyFrom(
                        error_status(
                            grpc.StatusCode.ABORTED,
                            "a reading with this (meter_id, timestamp) is being processed; retry",
                        )
                    )

        order = sorted(rows)
        for r, i in enumerate(order):
            results[i].status.code = code_pb2.OK
            results[i].feature_row = r
        for result in results:
            if not result.HasField("status"):  # pragma: no cover - every path sets a status
                result.status.CopyFrom(error_status(grpc.StatusCode.INTERNAL, "no result"))
            if result.status.code != code_pb2.OK:
                result.feature_row = -1
        matrix_out = np.array([rows[i] for i in order]) if order else np.empty((0, self.n_features))
        return services_pb2.IngestResponse(
            results=results, features=to_message(matrix_out, self.schema_version)
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _store(self, stored: dict[str, bytes]) -> None:
        try:
            with redis_span("dedup store", batch_size=len(stored)):
                pipe = self.redis.pipeline(transaction=False)
                for key, value in stored.items():
                    pipe.set(key, value, ex=self.dedup_ttl_s)
                await pipe.execute()
        except Exception:  # the claims stay: replays are told to retry until the TTL
            log.exception("storing de-duplication rows failed", extra={"count": len(stored)})

    async def _stored_rows(self, keys: list[str]) -> dict[str, np.ndarray | None]:
        """The feature rows stored under `keys`. A key still PENDING belongs to a reading in
        flight (or one whose row is being stored): wait for it a little before giving up."""
        out: dict[str, np.ndarray | None] = {}
        pending = list(dict.fromkeys(keys))
        for delay in (0.0, 0.002, 0.005, 0.01, 0.02, 0.05):
            if not pending:
                break
            if delay:
                await asyncio.sleep(delay)
            with redis_span("dedup lookup", batch_size=len(pending)):
                values = await self.redis.mget(pending)
            for key, value in zip(pending, values, strict=True):
                out[key] = self._stored_row(value)
            pending = [k for k in pending if out[k] is None]
        return out

    def _stored_row(self, value: bytes | None) -> np.ndarray | None:
        """The feature row stored by the first copy of a reading (None if pending or from
        another feature schema version)."""
        if not value or value == PENDING:
            return None
        version, _, payload = value.partition(b"\n")
        if version.decode() != self.schema_version or len(payload) != 8 * self.n_features:
            return None
        return np.frombuffer(payload, dtype="<f8")


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
