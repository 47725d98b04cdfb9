"""The Redis client every stateful service uses (redis-py asyncio), and a traced call helper.

`connect()` returns a single-node client for `REDIS_URL`, or a Redis Cluster client when
`REDIS_CLUSTER_NODES` lists seed nodes (`host:port,host:port,...`). Keys that must live
together carry the meter as a hash tag (`{meter}`), so the same code runs on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from redis.asyncio.cluster import ClusterNode, RedisCluster

from gridtwin.core.config import settings
from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry import record_redis_error, tracer

READINESS_PROBE_TTL_MS = 5_000


def cluster_nodes(raw: str | None = None) -> list[tuple[str, int]]:
    """Seed nodes from `REDIS_CLUSTER_NODES` ("host:port,host:port"); empty if unset."""
    raw = os.environ.get("REDIS_CLUSTER_NODES", "") if raw is None else raw
    nodes = []
    for item in raw.split(","):
        item = item.strip()
        if item:
            host, _, port = item.rpartition(":")
            nodes.append((host or "127.0.0.1", int(port)))
    return nodes


def connect(url: str | None = None, *, nodes: str | None = None) -> Any:
    """A pooled asyncio client (bytes in, bytes out): Redis Cluster when seed nodes are
    configured, else the single server at `url` / `REDIS_URL`."""
    seeds = cluster_nodes(nodes)
    if seeds:
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in seeds], socket_timeout=5.0, health_check_interval=30
        )
    return aioredis.Redis.from_url(url or settings().redis_url, socket_timeout=5.0, health_check_interval=30)


async def is_up(client: Any) -> bool:
    try:
        return bool(await client.ping())
    except Exception:
        record_redis_error("ping")
        return False


async def redis_ready(client: Any, prefix: str, service: str) -> bool:
    """Readiness: Redis answers and accepts a write. PING alone answers while a full Redis
    (`maxmemory` reached, `noeviction`) refuses every write, so probe with a tiny key that
    expires by itself."""
    try:
        return bool(await client.set(f"{prefix}ready:{{{service}}}", b"1", px=READINESS_PROBE_TTL_MS))
    except Exception:
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
