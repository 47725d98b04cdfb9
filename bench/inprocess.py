"""The same pipeline as the mesh, run in one process: the limit the mesh is compared with.

Validation, de-duplication and rolling feature state in Redis, the four modules' models
and decision, with the same library code the services run, but direct calls instead of
gRPC hops and protobuf (de)serialisation between them.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Sequence

from gridtwin.core.config import settings
from gridtwin.core.redis_client import connect
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.features.state import FeatureState
from gridtwin.ingest.dedup import Deduplicator, Outcome, classify, reading_digest
from gridtwin.ingest.validation import Limits, StoredNominal, validate_reading
from gridtwin.registry import MODULE_MODELS
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.module import ModuleServicer
from gridtwin.v1 import assessment_pb2, reading_pb2


def served_models(module: str) -> dict:
    """The serving classes a module's service declares (services/<module>/models.py)."""
    return importlib.import_module(f"services.{module}.models").FACTORIES


class InProcessPipeline:
    def __init__(self) -> None:
        cfg = settings()
        self.prefix = cfg.redis_prefix
        self.redis = connect(cfg.redis_url)
        self.state = FeatureState(self.redis, prefix=self.prefix)
        self.limits = Limits.from_env()
        self.dedup = Deduplicator(self.redis, self.prefix, ttl_s=3600)
        self.modules = {
            m: ModuleServicer(m, served_models(m), FEATURE_NAMES, SCHEMA_VERSION) for m in MODULE_MODELS
        }
        for module in self.modules.values():
            module.load_all()

    async def assess(self, readings: Sequence[reading_pb2.Reading]) -> list[assessment_pb2.Assessment]:
        now = time.time()
        meters = sorted({r.meter_id for r in readings})
        profiles = await self.state.nominal_for(meters)
        stored = {
            m: StoredNominal(
                p.nominal_voltage_v, p.nominal_frequency_hz, p.voltage_inferred, p.frequency_inferred
            )
            for m, p in profiles.items()
            if p is not None
        }
        valid = [r for r in readings if not validate_reading(r, stored.get(r.meter_id), self.limits, now)]
        digests = [reading_digest(r) for r in valid]
        keys = [self.dedup.key(r) for r in valid]
        pipe = self.redis.pipeline(transaction=False)
        self.dedup.queue_claims(pipe, keys, digests)
        previous = await pipe.execute()
        won = [classify(d, p) is Outcome.FRESH for d, p in zip(digests, previous, strict=True)]
        fresh = [r for r, ok in zip(valid, won, strict=True) if ok]
        if not fresh:
            return []
        matrix = await self.state.update_and_compute(fresh)
        await self.dedup.commit(
            [k for k, ok in zip(keys, won, strict=True) if ok],
            [d for d, ok in zip(digests, won, strict=True) if ok],
        )
        batch = ModuleBatch(
            fresh, matrix, FEATURE_NAMES, SCHEMA_VERSION, [assessment_pb2.Assessment() for _ in fresh]
        )
        upstream = [assessment_pb2.Assessment() for _ in fresh]
        for name in ("monitoring", "maintenance", "energy"):
            await self.modules[name].prepare(batch)
            for merged, part in zip(upstream, self.modules[name].evaluate(batch), strict=True):
                merged.MergeFrom(part)
        batch.upstream = upstream
        await self.modules["decision"].prepare(batch)
        for merged, part in zip(upstream, self.modules["decision"].evaluate(batch), strict=True):
            merged.MergeFrom(part)
        return upstream

    async def time_models(self, readings: Sequence[reading_pb2.Reading]) -> dict[str, float]:
        """Seconds each module's models take (prepare + predict) for these readings."""
        matrix = await self.state.update_and_compute(readings)
        batch = ModuleBatch(
            readings, matrix, FEATURE_NAMES, SCHEMA_VERSION, [assessment_pb2.Assessment() for _ in readings]
        )
        out = {}
        for name in ("monitoring", "maintenance", "energy", "decision"):
            started = time.perf_counter()
            await self.modules[name].prepare(batch)
            self.modules[name].evaluate(batch)
            out[name] = time.perf_counter() - started
        return out

    async def close(self) -> None:
        await self.redis.aclose()
