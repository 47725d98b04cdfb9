"""Assessments to subscribers (Redis pub/sub, so every gateway replica's subscribers see every
assessment) and to history (a capped Redis stream per meter).

Publishing is off the request path: assessments are queued and written in pipelined batches
by a background task. The feed is best-effort by design: if Redis is slower than the mesh the
oldest queued assessments are dropped (and counted); callers always get their answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import redis.asyncio as aioredis

from gridtwin.core.config import env_int
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2

log = logging.getLogger(__name__)


class Publisher:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.channel = f"{prefix}assessments"
        self.prefix = prefix
        self.history_len = env_int("HISTORY_MAXLEN", 1_000)
        self.queue: asyncio.Queue[assessment_pb2.Assessment] = asyncio.Queue(env_int("PUBLISH_QUEUE", 50_000))
        self.dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def publish(self, assessments: Sequence[assessment_pb2.Assessment]) -> None:
        for assessment in assessments:
            if assessment.status.code != 0 or assessment.duplicate:  # a replay carries no outputs
                continue
            if self.queue.full():
                self.queue.get_nowait()
                self.dropped += 1
            self.queue.put_nowait(assessment)

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty() and len(batch) < 1_000:
                batch.append(self.queue.get_nowait())
            try:
                pipe = self.redis.pipeline(transaction=False)
                for assessment in batch:
                    payload = assessment.SerializeToString()
                    pipe.publish(self.channel, payload)
                    pipe.xadd(
                        f"{self.prefix}history:{assessment.meter_id}",
                        {"a": payload},
                        maxlen=self.history_len,
                        approximate=True,
                    )
                await pipe.execute()
            except Exception:
                self.dropped += len(batch)
                log.exception("publishing assessments failed", extra={"dropped_total": self.dropped})


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


async def subscribe(
    client: aioredis.Redis, prefix: str, request: gateway_pb2.SubscribeRequest
) -> AsyncIterator[assessment_pb2.Assessment]:
    pubsub = client.pubsub()
    await pubsub.subscribe(f"{prefix}assessments")
    try:
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            assessment = assessment_pb2.Assessment.FromString(message["data"])
            if matches(assessment, request):
                yield project(assessment, list(request.models))
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
