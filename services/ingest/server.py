"""Ingest: validates each reading, de-duplicates on (meter_id, timestamp), fans out to features.

Order per batch: one Redis round trip for the meters' stored profiles, validation (invalid
readings never touch Redis), one round trip of de-duplication claims for the valid ones
(`gridtwin.ingest.dedup`), then the feature call for the fresh readings, which marks their keys
*applied* and stores their feature inputs inside the same atomic script that appends them to
the rolling state. Readings found applied but never assessed (an earlier call's feature answer
was lost) get their rows recomputed from those inputs instead. Then one round trip marks every
reading with a row *assessed*; a reading that another call marked first is answered as a
duplicate, so no model sees it twice. A duplicate (identical values) is answered OK, flagged
`duplicate`, with no feature row: it reaches neither the rolling state nor any model. A
conflicting replay (same meter and time, different values) is ALREADY_EXISTS. Claims of
readings that were not processed are released in `finally` (only while still pending, never a
mark the script wrote); a claim that outlives a crash expires within seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import grpc
import numpy as np
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from gridtwin.core.channels import make_channel
from gridtwin.core.config import service_addr, settings
from gridtwin.core.errors import bad_request, error_status, upstream_failure
from gridtwin.core.redis_client import connect, redis_ready, redis_span
from gridtwin.core.server import ServiceSpec
from gridtwin.core.telemetry import remaining_time
from gridtwin.features.matrix import from_message, to_message
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.features.state import FeatureState
from gridtwin.ingest.dedup import Deduplicator, Outcome, classify, reading_digest
from gridtwin.ingest.validation import Limits, StoredNominal, validate_reading
from gridtwin.v1 import reading_pb2, services_pb2, services_pb2_grpc

log = logging.getLogger(__name__)


def conflict_status(reading: reading_pb2.Reading) -> status_pb2.Status:
    """ALREADY_EXISTS naming the (meter_id, timestamp) whose first copy had other values."""
    ts = reading.timestamp
    name = f"{reading.meter_id}@{ts.seconds}.{ts.nanos:09d}"
    status = error_status(
        grpc.StatusCode.ALREADY_EXISTS,
        f"conflict: a reading of meter {reading.meter_id!r} at {ts.ToJsonString()} with different values "
        "was already accepted; a correction needs its own timestamp",
    )
    packed = any_pb2.Any()
    packed.Pack(
        error_details_pb2.ResourceInfo(
            resource_type="gridtwin.v1.Reading", resource_name=name, description="values differ"
        )
    )
    status.details.append(packed)
    return status


def lost_status(reading: reading_pb2.Reading) -> status_pb2.Status:
    """DATA_LOSS: the reading is in its meter's state but was never assessed, and the inputs to
    assess it again are gone (expired or evicted); only a new timestamp can be assessed."""
    ts = reading.timestamp
    return error_status(
        grpc.StatusCode.DATA_LOSS,
        f"the reading of meter {reading.meter_id!r} at {ts.ToJsonString()} was applied to the meter's "
        "state but never assessed, and its stored feature inputs are gone",
    )


@dataclass
class _Claim:
    """The claim round trip's verdict: the first copy of each key, every valid reading's
    outcome, the identical copies riding on each first copy, and the keys this call owns."""

    claimants: list[int]
    outcome: dict[int, Outcome]
    riders: dict[int, list[int]]
    owned: list[str]


class IngestServicer(services_pb2_grpc.IngestServicer):
    def __init__(self, features_addr: str, limits: Limits) -> None:
        cfg = settings()
        self.prefix = cfg.redis_prefix
        self.redis = connect(cfg.redis_url)
        self.state = FeatureState(self.redis, prefix=self.prefix)
        self.dedup = Deduplicator(
            self.redis,
            self.prefix,
            ttl_s=cfg.dedup_ttl_s,
            pending_ttl_s=cfg.dedup_pending_ttl_s,
        )
        self.channel = make_channel(features_addr)
        self.features = services_pb2_grpc.FeaturesStub(self.channel)
        self.limits = limits
        self.deadline_s = cfg.ingest_deadline_s
        self.schema_version = SCHEMA_VERSION
        self.n_features = len(FEATURE_NAMES)

    async def _profiles(self, meters: list[str]) -> dict[str, StoredNominal]:
        with redis_span("profiles", batch_size=len(meters)):
            pipe = self.redis.pipeline(transaction=False)
            self.state.queue_profile_reads(pipe, meters)
            replies = await pipe.execute()
        out = {}
        for meter, p in self.state.parse_profiles(meters, replies).items():
            if p is not None:
                out[meter] = StoredNominal(
                    p.nominal_voltage_v, p.nominal_frequency_hz, p.voltage_inferred, p.frequency_inferred
                )
        return out

    async def Ingest(
        self, request: reading_pb2.ReadingBatch, context: grpc.aio.ServicerContext
    ) -> services_pb2.IngestResponse:
        readings = request.readings
        results = [services_pb2.IngestResult(feature_row=-1) for _ in readings]
        now = time.time()

        valid_meters = sorted({r.meter_id for r in readings if r.meter_id})
        profiles = await self._profiles(valid_meters) if valid_meters else {}
        valid: list[int] = []
        for i, reading in enumerate(readings):
            violations = validate_reading(reading, profiles.get(reading.meter_id), self.limits, now)
            if violations:
                results[i].status.CopyFrom(bad_request(violations))
            else:
                valid.append(i)
        if not valid:
            return self._response(results, {})

        digests = {i: reading_digest(readings[i]) for i in valid}
        claim = await self._claim(readings, valid, digests)
        outcome, rows = claim.outcome, {}
        fresh = [i for i in claim.claimants if outcome[i] is Outcome.FRESH]
        applied = [i for i in claim.claimants if outcome[i] is Outcome.APPLIED]
        processed = False
        try:
            if fresh:
                failure = await self._compute(readings, fresh, rows)
                if failure is not None:
                    self._fail(results, fresh, claim.riders, failure)
                else:
                    processed = True  # the feature script committed the applied marks
            if applied:
                await self._recover(readings, applied, rows, results, claim.riders)
            await self._finish(readings, digests, rows, outcome)
        finally:
            if not processed and claim.owned:
                # The readings were not processed: they must not read as seen. Only claims
                # still pending are dropped (a failure after the script ran keeps its mark).
                with redis_span("dedup release", batch_size=len(claim.owned)):
                    await self.dedup.release(claim.owned, [digests[i] for i in fresh])

        for i in valid:
            if not results[i].HasField("status"):
                results[i].status.CopyFrom(self._answer(readings[i], outcome[i]))
        return self._response(results, rows)

    async def _claim(
        self, readings: list[reading_pb2.Reading], valid: list[int], digests: dict[int, bytes]
    ) -> _Claim:
        """One claim per distinct key (one round trip); later copies in the batch follow the
        first: a conflict if their values differ, else its riders (answered as duplicates
        once it succeeds) or its outcome."""
        keys = {i: self.dedup.key(readings[i]) for i in valid}
        first_of: dict[str, int] = {}
        for i in valid:
            first_of.setdefault(keys[i], i)
        claimants = list(first_of.values())
        with redis_span("dedup claim", batch_size=len(claimants)):
            pipe = self.redis.pipeline(transaction=False)
            self.dedup.queue_claims(pipe, [keys[i] for i in claimants], [digests[i] for i in claimants])
            previous = await pipe.execute()
        outcome = {i: classify(digests[i], prev) for i, prev in zip(claimants, previous, strict=True)}
        riders: dict[int, list[int]] = {}
        for i in valid:
            first = first_of[keys[i]]
            if i == first:
                continue
            if digests[i] != digests[first]:
                outcome[i] = Outcome.CONFLICT
            elif outcome[first] in (Outcome.FRESH, Outcome.APPLIED):
                outcome[i] = Outcome.DUPLICATE  # answered as such once the first copy succeeds
                riders.setdefault(first, []).append(i)
            else:
                outcome[i] = outcome[first]
        owned = [keys[i] for i in claimants if outcome[i] is Outcome.FRESH]
        return _Claim(claimants, outcome, riders, owned)

    @staticmethod
    def _fail(
        results: list[services_pb2.IngestResult],
        items: list[int],
        riders: dict[int, list[int]],
        failure: status_pb2.Status,
    ) -> None:
        for i in items:
            for k in (i, *riders.get(i, ())):
                results[k].status.CopyFrom(failure)

    async def _recover(
        self,
        readings: list[reading_pb2.Reading],
        applied: list[int],
        rows: dict[int, np.ndarray],
        results: list[services_pb2.IngestResult],
        riders: dict[int, list[int]],
    ) -> None:
        """Rows of readings that are in the rolling state but were never assessed (their first
        call's answer was lost), recomputed from the inputs the feature script stored."""
        with redis_span("dedup inputs", batch_size=len(applied)):
            stored = await self.dedup.inputs([readings[i] for i in applied])
        found = [(i, blob) for i, blob in zip(applied, stored, strict=True) if blob is not None]
        lost = [i for i, blob in zip(applied, stored, strict=True) if blob is None]
        if found:
            matrix = self.state.recompute([readings[i] for i, _ in found], [blob for _, blob in found])
            for (i, _), row in zip(found, matrix, strict=True):
                rows[i] = row
        for i in lost:
            self._fail(results, [i], riders, lost_status(readings[i]))
        if found:
            log.info("re-assessing readings whose first answer was lost", extra={"count": len(found)})

    async def _finish(
        self,
        readings: list[reading_pb2.Reading],
        digests: dict[int, bytes],
        rows: dict[int, np.ndarray],
        outcome: dict[int, Outcome],
    ) -> None:
        """Mark the readings with rows as assessed; one that another call marked first (a
        retry racing its original) goes to no model: it is answered as a duplicate."""
        if not rows:
            return
        items = list(rows)
        with redis_span("dedup finish", batch_size=len(items)):
            turned = await self.dedup.finish([readings[i] for i in items], [digests[i] for i in items])
        for i, won in zip(items, turned, strict=True):
            if not won:
                del rows[i]
                outcome[i] = Outcome.DUPLICATE

    @staticmethod
    def _answer(reading: reading_pb2.Reading, state: Outcome) -> status_pb2.Status:
        if state in (Outcome.FRESH, Outcome.APPLIED, Outcome.DUPLICATE):
            return status_pb2.Status(code=code_pb2.OK)
        if state is Outcome.CONFLICT:
            return conflict_status(reading)
        return error_status(
            grpc.StatusCode.ABORTED,
            "an identical reading with this (meter_id, timestamp) is being processed; retry",
        )

    async def _compute(
        self, readings: list[reading_pb2.Reading], fresh: list[int], rows: dict[int, np.ndarray]
    ) -> status_pb2.Status | None:
        """Features for the fresh readings into `rows`; the failure status if the call failed."""
        batch = reading_pb2.ReadingBatch(readings=[readings[i] for i in fresh])
        try:
            computed = await self.features.Compute(batch, timeout=remaining_time(self.deadline_s))
            matrix = from_message(computed.features)
        except grpc.aio.AioRpcError as exc:
            return upstream_failure("features", exc)
        except ValueError:
            log.exception("features answered a malformed matrix")
            return error_status(grpc.StatusCode.INTERNAL, "features: malformed feature matrix")
        for j, i in enumerate(fresh):
            rows[i] = matrix[j]
        return None

    def _response(
        self, results: list[services_pb2.IngestResult], rows: dict[int, np.ndarray]
    ) -> services_pb2.IngestResponse:
        for i, result in enumerate(results):
            # OK without a feature row: a duplicate (its first copy has, or had, the row).
            result.duplicate = result.status.code == code_pb2.OK and i not in rows
        order = sorted(i for i in rows if results[i].status.code == code_pb2.OK)
        for r, i in enumerate(order):
            results[i].feature_row = r
        matrix_out = np.array([rows[i] for i in order]) if order else np.empty((0, self.n_features))
        return services_pb2.IngestResponse(
            results=results, features=to_message(matrix_out, self.schema_version)
        )


def spec() -> ServiceSpec:
    servicer = IngestServicer(service_addr("features"), Limits.from_env())

    def register(server: grpc.aio.Server) -> list[str]:
        services_pb2_grpc.add_IngestServicer_to_server(servicer, server)
        return ["gridtwin.v1.Ingest"]

    async def ready() -> bool:
        return await redis_ready(servicer.redis, servicer.prefix, "ingest")

    async def stop() -> None:
        await servicer.channel.close()
        await servicer.redis.aclose()

    return ServiceSpec(name="ingest", register=register, ready=ready, stop=stop)
