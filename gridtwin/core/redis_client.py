"""The Redis client every stateful service uses (redis-py asyncio), and a traced call helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind

from gridtwin.core.config import settings
from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry import record_redis_error, tracer


def connect(url: str | None = None) -> aioredis.Redis:
    """A pooled asyncio client for `REDIS_URL` (bytes in, bytes out)."""
    return aioredis.Redis.from_url(url or settings().redis_url, socket_timeout=5.0, health_check_interval=30)


async def is_up(client: aioredis.Redis) -> bool:
    try:
        return bool(await client.ping())
    except Exception:
        record_redis_error("ping")
        return False


@contextmanager
def redis_span(operation: str, **attributes: object) -> Iterator[None]:
    """A CLIENT span around a Redis round trip, named for what it does ("redis dedup"); a
    Redis error inside it is counted by operation."""
    attrs = {attr.DB_SYSTEM: "redis", attr.DB_OPERATION: operation}
    attrs.update({k: v for k, v in attributes.items()})
    with tracer().start_as_current_span(f"redis {operation}", kind=SpanKind.CLIENT, attributes=attrs):
        try:
            yield
        except aioredis.RedisError:
            record_redis_error(operation)  # gridtwin_redis_errors_total{operation}
            raise
