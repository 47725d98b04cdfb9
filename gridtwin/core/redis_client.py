"""The Redis client every stateful service uses (redis-py asyncio), and a traced call helper.

`connect()` returns a single-node client for `REDIS_URL`, or a Redis Cluster client when
`REDIS_CLUSTER_NODES` lists seed nodes (`host:port,host:port,...`). Keys that must live
together carry the meter as a hash tag (`{meter}`), so the same code runs on both.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import redis.asyncio as aioredis
from opentelemetry.trace import SpanKind
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import NoScriptError

from gridtwin.core.config import settings
from gridtwin.core.telemetry import attributes as attr
from gridtwin.core.telemetry import record_redis_error, tracer

READINESS_PROBE_TTL_MS = 5_000


def cluster_nodes(raw: str | None = None) -> list[tuple[str, int]]:
    """Seed nodes from `REDIS_CLUSTER_NODES` ("host:port,host:port"); empty if unset."""
    raw = settings().redis_cluster_nodes if raw is None else raw
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


def meter_tag(meter_id: str) -> str:
    """The hash tag that keeps every key of one meter in one Redis Cluster slot: `{meter}`."""
    return "{" + meter_id + "}"


def slot_of(key: str | bytes) -> int:
    """The Redis Cluster hash slot (CRC16 mod 16384) of `key`, honouring its `{tag}`."""
    return int(key_slot(key.encode() if isinstance(key, str) else key))


def group_by_slot(keys: Sequence[str | bytes]) -> dict[int, list[int]]:
    """Indices of `keys` grouped by hash slot, in first-seen order within each group.

    A multi-key script may only touch keys of one slot on Redis Cluster; callers split a batch
    with this and run one call per slot (on a single Redis every group is still correct, only
    smaller than necessary; callers that know they are on one node may skip the split).
    """
    groups: dict[int, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(slot_of(key), []).append(i)
    return groups


def is_cluster(client: Any) -> bool:
    """True for a Redis Cluster client (whose multi-key calls must stay within one slot)."""
    return isinstance(client, RedisCluster)


async def per_slot(
    client: Any, keys: Sequence[str | bytes], call: Callable[[list[int]], Awaitable[Any]]
) -> dict[int, Any]:
    """Run `call(indices)` once per hash slot of `keys` (concurrently) on Redis Cluster, or once
    for all indices on a single Redis; returns each group's result keyed by its first index.

    The groups partition `range(len(keys))`; a failure of any group propagates (the caller
    decides which items failed)."""
    if not keys:
        return {}
    groups = list(group_by_slot(keys).values()) if is_cluster(client) else [list(range(len(keys)))]
    results = await asyncio.gather(*(call(g) for g in groups))
    return {g[0]: r for g, r in zip(groups, results, strict=True)}


def slot_groups(client: Any, keys: Sequence[str | bytes]) -> list[list[int]]:
    """How to split a batch with these keys: one group per hash slot on Redis Cluster, one
    group of all indices on a single Redis (where one call is fastest)."""
    if not keys:
        return []
    return list(group_by_slot(keys).values()) if is_cluster(client) else [list(range(len(keys)))]


class ScriptCall(NamedTuple):
    """One EVALSHA of a script: its keys (all in one hash slot on Redis Cluster) and args."""

    keys: Sequence[str | bytes]
    args: Sequence[Any]


async def eval_calls(client: Any, script: str, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run `script` once per call and return the replies in order: one call for the whole
    batch on a single Redis, one call per hash slot on Redis Cluster.

    The calls go in one non-transactional pipeline, which on Redis Cluster is sent as one
    round trip per node, the nodes concurrently: a batch spread over hundreds of slots needs
    neither hundreds of round trips nor a connection per slot in flight (as one coroutine per
    slot, `per_slot`, would). A node that does not know the script yet (NOSCRIPT: restarted,
    failed over, new) gets it with SCRIPT LOAD and only the refused calls are sent again;
    any other error is raised (the caller's batch failed as a whole or per reading, as it
    decides).
    """
    if not calls:
        return []
    sha = hashlib.sha1(script.encode()).hexdigest()
    replies: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for i in todo:
            # execute_command: redis-py blocks the `evalsha` helper in cluster pipelines, but
            # routes EVALSHA by its keys' slot like any keyed command.
            pipe.execute_command("EVALSHA", sha, len(calls[i].keys), *calls[i].keys, *calls[i].args)
        results = await pipe.execute(raise_on_error=False)
        missing = []
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, NoScriptError) and attempt == 0:
                missing.append(i)
            elif isinstance(result, Exception):
                raise result
            else:
                replies[i] = result
        if not missing:
            return replies
        await client.script_load(script)  # every primary of a cluster
        todo = missing
    return replies


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
