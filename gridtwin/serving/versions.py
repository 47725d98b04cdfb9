"""A module's challenger versions and drift windows, beside the champions it serves.

The champion is the module's own `ModelSlot` (loaded from `registry/<name>/`). This router adds,
per model, what the lifecycle's aliases say (gridtwin.lifecycle.store):

* **shadow**: the challenger answers the same batch, its answers are scored (per-version
  Prometheus series, and in Redis how often it agrees with the champion's severity) and
  never returned;
* **canary**: meters whose stable hash (SHA-256 of the meter id) falls under the canary
  share get the challenger's answer; the others the champion's;
* **drift**: the champion's input columns and outputs are binned against its version's
  reference and added to the shared window in Redis (gridtwin.lifecycle.window); `drift()` reads the verdict.

It reloads a challenger when `aliases.json` changes, and a reference when the champion's
version changes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from gridtwin.core.config import settings
from gridtwin.core.telemetry import record_model
from gridtwin.lifecycle import window
from gridtwin.lifecycle.drift import DriftStatus, Reference, assess
from gridtwin.lifecycle.outputs import is_output, output_values
from gridtwin.lifecycle.store import Aliases, aliases_path, load_version, read_aliases, reference_path
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2

log = logging.getLogger(__name__)


REFERENCE_RETRY_S = 30.0


def canary_share_of(meter_id: str) -> float:
    """A meter's stable position in [0, 1): the same meter always lands on the same side."""
    digest = hashlib.sha256(meter_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


ALARM = (assessment_pb2.ADVISORY, assessment_pb2.WARNING, assessment_pb2.CRITICAL)
NOT_ANSWERED = (assessment_pb2.FAILED, assessment_pb2.UNAVAILABLE)


def shadow_stats(champion: list, challenger: list) -> dict[str, int]:
    """What one batch says about the challenger beside the champion, on the same readings:
    answers, severity agreements, alarms (above NORMAL) and failures of each (the
    auto-promotion's no-regression check, gridtwin.lifecycle.promotion, reads them)."""
    pairs = list(zip(champion, challenger, strict=True))
    return {
        "answers": len(pairs),
        "severity_agrees": sum(a.info.severity == b.info.severity for a, b in pairs),
        "champion_alarms": sum(a.info.severity in ALARM for a, _ in pairs),
        "challenger_alarms": sum(b.info.severity in ALARM for _, b in pairs),
        "champion_failed": sum(a.info.status in NOT_ANSWERED for a, _ in pairs),
        "challenger_failed": sum(b.info.status in NOT_ANSWERED for _, b in pairs),
    }


class Challenger:
    """The challenger of one model: its aliases, its loaded version (or why none)."""

    def __init__(self, aliases: Aliases, model: ServedModel | None, reason: str = "") -> None:
        self.aliases = aliases
        self.model = model
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class _DriftPlan:
    """Where a reference's monitored columns are: inputs by their position in the batch's
    feature matrix, outputs by name (`output.<field>`), each with its reference column index."""

    reference: Reference
    positions: np.ndarray  # feature-matrix column of each monitored input present
    inputs: np.ndarray  # reference column index of each of them
    input_names: tuple[str, ...]
    outputs: tuple[tuple[int, str], ...]  # (reference column index, name) of monitored outputs

    @classmethod
    def of(cls, reference: Reference, feature_names: tuple[str, ...]) -> _DriftPlan:
        where = {n: i for i, n in enumerate(feature_names)}
        inputs = [k for k, c in enumerate(reference.columns) if c in where and not is_output(c)]
        return cls(
            reference,
            np.array([where[reference.columns[k]] for k in inputs], dtype=np.intp),
            np.array(inputs, dtype=np.intp),
            tuple(reference.columns[k] for k in inputs),
            tuple((k, c) for k, c in enumerate(reference.columns) if is_output(c)),
        )


class VersionRouter:
    """Challengers and drift windows of one module's models."""

    def __init__(
        self,
        names: list[str],
        factories: dict[str, Callable[..., ServedModel]],
        warm: Callable[[], ModuleBatch],
        model_config: ModelConfig,
        states: Callable[[str], MeterState],
    ) -> None:
        self.names = names
        self.factories = factories
        self.warm = warm
        self.model_config = model_config
        # A challenger keeps its own per-meter state (`<model>@challenger` namespace): sharing
        # the champion's would update its accumulators twice per reading.
        self.states = {name: states(f"{name}@challenger") for name in names}
        self.cfg = window.WindowSettings.from_env()
        self.challengers: dict[str, Challenger] = {}
        self._stamps: dict[str, float | None] = {}
        self._references: dict[tuple[str, str], tuple[Reference | None, float]] = {}
        self._plans: dict[tuple[str, str, tuple[str, ...]], _DriftPlan] = {}
        self._pending: list[tuple[str, str, dict, dict[int, int], dict[int, list[str]]]] = []
        self._stats: list[tuple[str, str, dict[str, int]]] = []
        self._shadows: dict[int, ModuleBatch] = {}
        self._flushing: asyncio.Task[None] | None = None

    # ---- loading -------------------------------------------------------------------
    @staticmethod
    def _stamp(name: str) -> float | None:
        path = aliases_path(name)
        return path.stat().st_mtime if path.exists() else None

    def refresh(self) -> None:
        """Load challengers whose aliases changed (called from the module's registry watch)."""
        for name in self.names:
            stamp = self._stamp(name)
            if name in self.challengers and stamp == self._stamps.get(name):
                continue
            self._stamps[name] = stamp
            self.challengers[name] = self._load(name)

    def _load(self, name: str) -> Challenger:
        aliases = read_aliases(name)
        factory = self.factories.get(name)
        if not aliases.challenger or factory is None:
            return Challenger(aliases, None, "no challenger")
        try:
            model = factory(load_version(name, aliases.challenger), self.model_config)
            model.warm(self.warm())
        except Exception as exc:  # a broken or tampered challenger must not touch the champion
            log.exception("challenger failed to load", extra={"model": name})
            return Challenger(aliases, None, f"challenger failed to load ({type(exc).__name__})")
        log.info(
            "challenger loaded", extra={"model": name, "version": aliases.challenger, "mode": aliases.mode}
        )
        return Challenger(aliases, model)

    def reference(self, name: str, version: str) -> Reference | None:
        """The drift reference of a version (cached; a missing one is looked for again every
        `REFERENCE_RETRY_S`, so `gridtwin drift-reference` takes effect without a restart)."""
        key = (name, version)
        cached = self._references.get(key)
        if cached is not None and (cached[0] is not None or time.monotonic() - cached[1] < REFERENCE_RETRY_S):
            return cached[0]
        path: Path = reference_path(name, version)
        reference = Reference.load(path) if path.exists() else None
        self._references[key] = (reference, time.monotonic())
        return reference

    # ---- serving -------------------------------------------------------------------
    async def prepare(self, batch: ModuleBatch) -> None:
        """The challengers' own copy of the batch (their `prepare` writes their own context);
        `route` finds it by the batch, `release` forgets it when the call ends."""
        if not any(c.model is not None for c in self.challengers.values()):
            return
        shadow = dataclasses.replace(batch, context={})
        self._shadows[id(batch)] = shadow
        for challenger in self.challengers.values():
            model = challenger.model
            if model is not None and type(model).prepare is not ServedModel.prepare:
                try:
                    await model.prepare(shadow, self.states[model.name])
                except Exception as exc:  # predict sees no context and says so
                    log.warning("challenger prepare failed", extra={"model": model.name, "error": repr(exc)})

    def release(self, batch: ModuleBatch) -> None:
        self._shadows.pop(id(batch), None)

    def route(self, name: str, champion: ServedModel, batch: ModuleBatch, outputs: list) -> list:
        """The answers to return for `name`: the champion's, or the challenger's for canary
        meters. Runs on the module's inference thread, after the champion answered."""
        self._observe(name, champion.version, batch, outputs)
        challenger = self.challengers.get(name)
        if challenger is None or challenger.model is None:
            return outputs
        model = challenger.model
        shadow = self._shadows.get(id(batch)) or dataclasses.replace(batch, context={})
        try:
            theirs = model.predict(shadow)
        except Exception:
            log.exception("challenger failed", extra={"model": name, "version": model.version})
            return outputs
        mix = Counter(
            (assessment_pb2.ModelStatus.Name(o.info.status), assessment_pb2.Severity.Name(o.info.severity))
            for o in theirs
        )
        record_model(name, model.version, None, mix)
        self._stats.append((name, model.version, shadow_stats(outputs, theirs)))
        if challenger.aliases.mode != "canary":
            return outputs
        share = challenger.aliases.canary_share
        return [
            t if canary_share_of(r.meter_id) < share else o
            for r, o, t in zip(batch.readings, outputs, theirs, strict=True)
        ]

    def _observe(self, name: str, version: str, batch: ModuleBatch, outputs: list) -> None:
        """Bin the champion's inputs and outputs of this batch per time bucket (sent by `flush`).

        Runs after every model of every call: the monitored columns' positions are worked out
        once per (reference, feature names), and the batch's time buckets once per batch."""
        reference = self.reference(name, version)
        if reference is None or len(batch) == 0:
            return
        plan = self._plan(name, version, reference, batch.feature_names)
        parts, idx, names = [], [plan.inputs], [plan.input_names]
        if len(plan.positions):
            parts.append(np.asarray(batch.features[:, plan.positions], dtype=np.float64))
        if plan.outputs and len(outputs) == len(batch):
            answered = output_values(outputs)
            present = [(k, c) for k, c in plan.outputs if c in answered]
            if present:
                parts.append(np.column_stack([answered[c] for _, c in present]))
                idx.append(np.array([k for k, _ in present], dtype=np.intp))
                names.append(tuple(c for _, c in present))
        if not parts:
            return
        values = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
        columns = np.concatenate(idx) if len(idx) > 1 else idx[0]
        named = [(c, len(reference.shares[k])) for c, k in zip(sum(names, ()), columns, strict=True)]
        per_bucket, readings, meters = {}, {}, {}
        for bucket, rows, count, ids in self._buckets(batch):
            tally = reference.tally(values[rows], columns)
            per_bucket[bucket] = {c: tally[j, :bins] for j, (c, bins) in enumerate(named)}
            readings[bucket], meters[bucket] = count, ids
        self._pending.append((name, version, per_bucket, readings, meters))

    def _plan(self, name: str, version: str, reference: Reference, feature_names: Any) -> _DriftPlan:
        key = (name, version, tuple(feature_names))
        cached = self._plans.get(key)
        if cached is None or cached.reference is not reference:
            cached = self._plans[key] = _DriftPlan.of(reference, key[2])
        return cached

    def _buckets(self, batch: ModuleBatch) -> list[tuple[int, Any, int, list[str]]]:
        """(bucket, its rows, row count, its sorted distinct meters) of the batch's readings,
        computed once per batch and shared by the module's models (kept on its context)."""
        key = f"_drift_buckets:{self.cfg.bucket_s}"
        groups = batch.context.get(key)
        if groups is not None:
            return groups
        seconds = np.array([r.timestamp.seconds for r in batch.readings], dtype=np.int64)
        meter_ids = batch.meter_ids
        buckets = seconds // self.cfg.bucket_s
        if buckets.min() == buckets.max():  # the usual call: one bucket, every row
            groups = [(int(buckets[0]), slice(None), len(batch), sorted(set(meter_ids)))]
        else:
            groups = [
                (bucket, rows, len(rows), sorted({meter_ids[r] for r in rows}))
                for bucket, rows in window.group_by_bucket(seconds, self.cfg.bucket_s).items()
            ]
        batch.context[key] = groups
        return groups

    def schedule_flush(self, redis: Any) -> None:
        """Send the gathered counts in the background: one flush at a time, and a flush takes
        everything gathered until it starts (counts are best effort: a Redis error is logged)."""
        if self._flushing is not None and not self._flushing.done():
            return
        self._flushing = asyncio.get_running_loop().create_task(self._flush_logged(redis))

    async def _flush_logged(self, redis: Any) -> None:
        try:
            while self._pending or self._stats:  # counts gathered while a flush ran go too
                await self.flush(redis)
        except Exception as exc:
            log.warning("drift window not updated", extra={"error": repr(exc)})

    async def flush(self, redis: Any) -> None:
        """Send the counts gathered by the last batches to Redis (on the event loop)."""
        pending, self._pending = self._pending, []
        stats, self._stats = self._stats, []
        prefix = settings().redis_prefix
        await window.add_many(redis, prefix, pending, self.cfg)
        if stats:
            pipe = redis.pipeline(transaction=False)
            for name, version, counts in stats:
                key = window.stats_key(prefix, name, version)
                for field, value in counts.items():
                    pipe.hincrby(key, field, value)
                pipe.expire(key, self.cfg.ttl_s)
            await pipe.execute()

    async def drift(self, redis: Any, name: str, version: str) -> DriftStatus | None:
        """The drift verdict of `version`'s current window (None without a reference)."""
        reference = self.reference(name, version)
        if reference is None:
            return None
        bins = {c: len(s) for c, s in zip(reference.columns, reference.shares, strict=True)}
        current = await window.read(redis, settings().redis_prefix, name, version, self.cfg, bins)
        return assess(
            reference, current.counts, self.cfg.shape(current.readings, current.span_s, current.meters)
        )

    async def version_stats(self, redis: Any, name: str, version: str) -> dict[str, int]:
        raw = await redis.hgetall(window.stats_key(settings().redis_prefix, name, version))
        return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
