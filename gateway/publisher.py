"""Assessments to subscribers (Redis pub/sub, so every gateway replica's subscribers see every
assessment) and to history: the Redis Stream `<prefix>assessments` (gridtwin.history.stream),
one entry per accepted assessment with its reading, capped at `HISTORY_STREAM_MAXLEN`
(approximate MAXLEN), which the history service consumes with a consumer group.

Publishing is off the request path: assessments are queued and written in pipelined batches
by a background task; a failed write is retried for a few seconds. If Redis stays slower than
the mesh the oldest queued assessments are dropped (and counted); callers always get their answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import redis.asyncio as aioredis

from gridtwin.core.config import settings
from gridtwin.history.config import stream_maxlen
from gridtwin.history.stream import encode, stream_key
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2, reading_pb2

#: Attempts to write a batch before it is dropped (0.5 s apart).
WRITE_ATTEMPTS = 10

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.channel = f"{prefix}assessments"
        self.stream = stream_key(prefix)
        self.stream_maxlen = stream_maxlen()
        self.queue: asyncio.Queue[tuple[reading_pb2.Reading, assessment_pb2.Assessment]] = asyncio.Queue(
            settings().publish_queue
        )
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def publish(
        self, readings: Sequence[reading_pb2.Reading], assessments: Sequence[assessment_pb2.Assessment]
    ) -> None:
        """Queue the accepted assessments (status OK) with the readings they answer."""
        for reading, assessment in zip(readings, assessments, strict=True):
            if assessment.status.code != 0 or assessment.duplicate:  # a replay carries no outputs
                continue
            if self.queue.full():
                self.queue.get_nowait()
                self.dropped += 1
            self.queue.put_nowait((reading, assessment))

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 1_000:
                batch.append(self.queue.get_nowait())
            for attempt in range(WRITE_ATTEMPTS):
                try:
                    await self._write(batch)
                    break
                except Exception:
                    if attempt == WRITE_ATTEMPTS - 1:
                        self.dropped += len(batch)
                        log.exception("publishing assessments failed", extra={"dropped_total": self.dropped})
                    else:
                        await asyncio.sleep(0.5)

    async def _write(self, batch: list[tuple[reading_pb2.Reading, assessment_pb2.Assessment]]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for reading, assessment in batch:
            fields = encode(reading, assessment)
            # execute_command: redis-py blocks the `publish` helper in Redis Cluster pipelines,
            # while PUBLISH itself is valid on any node of a cluster (it reaches every node).
            pipe.execute_command("PUBLISH", self.channel, fields[b"a"])
            pipe.xadd(self.stream, fields, maxlen=self.stream_maxlen, approximate=True)
        await pipe.execute()


def matches(assessment: assessment_pb2.Assessment, request: gateway_pb2.SubscribeRequest) -> bool:
    if request.meter_ids and assessment.meter_id not in request.meter_ids:
        return False
    models = list(request.models) or list(MODEL_MODULE)
    if request.min_severity == assessment_pb2.SEVERITY_UNSPECIFIED:
        return True
    return any(getattr(assessment, m).info.severity >= request.min_severity for m in models)


def project(assessment: assessment_pb2.Assessment, models: Sequence[str]) -> assessment_pb2.Assessment:
    """Keep only the selected model fields."""
    if not models:
        return assessment
    for name in MODEL_MODULE:
        if name not in models:
            assessment.ClearField(name)
    return assessment
