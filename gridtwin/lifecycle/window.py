"""The sliding drift window in Redis, shared by every replica of a module.

Per model and version, one hash per time bucket of the readings' own timestamps
(`GRIDTWIN_DRIFT_BUCKET_S`, default 300 s) holds the rows per (column, bin) and the reading
count `n`; a sorted set indexes the buckets. The window is the latest buckets covering
`GRIDTWIN_DRIFT_WINDOW_S` (default 1 day: the reference holds whole days, and a window of part
of the daily load cycle is not a sample of it; docs/lifecycle.md). Keys are bounded: buckets that slide out of the
window are deleted, and every key has a TTL (`GRIDTWIN_DRIFT_TTL_S`, default 1 day).
Every key of one model carries the hash tag `{drift:<model>}`, so on Redis Cluster one model's
window lives in one slot and is read in one pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gridtwin.core.config import settings
from gridtwin.core.redis_client import ScriptCall, eval_calls
from gridtwin.lifecycle.drift import WindowShape


@dataclass(frozen=True)
class WindowSettings:
    bucket_s: int
    window_s: int
    ttl_s: int
    psi_threshold: float
    min_readings: int
    false_rate: float = 0.01

    @classmethod
    def from_env(cls) -> WindowSettings:
        """The `GRIDTWIN_DRIFT_*` settings of this process."""
        cfg = settings()
        return cls(
            bucket_s=cfg.drift_bucket_s,
            window_s=cfg.drift_window_s,
            ttl_s=cfg.drift_ttl_s,
            psi_threshold=cfg.drift_psi,
            min_readings=cfg.drift_min_readings,
            false_rate=cfg.drift_false_rate,
        )

    def shape(self, readings: int, span_s: int | None, meters: int) -> WindowShape:
        """The verdict's rules for a window of `readings` over `span_s` s from `meters` meters."""
        return WindowShape(
            readings=readings,
            threshold=self.psi_threshold,
            min_readings=self.min_readings,
            span_s=span_s,
            window_s=self.window_s,
            meters=meters,
            false_rate=self.false_rate,
        )

    @property
    def buckets(self) -> int:
        return max(1, self.window_s // self.bucket_s)


def model_tag(name: str) -> str:
    """Hash tag of every drift key of one model (one Redis Cluster slot per model)."""
    return "{drift:" + name + "}"


def bucket_key(prefix: str, name: str, version: str, bucket: int) -> str:
    return f"{prefix}{model_tag(name)}:{version}:{bucket}"


def meters_key(prefix: str, name: str, version: str, bucket: int) -> str:
    """HyperLogLog of the meters seen in one bucket (distinct meters of a window = PFCOUNT
    over its buckets: one slot thanks to the hash tag)."""
    return f"{bucket_key(prefix, name, version, bucket)}:meters"


def stats_key(prefix: str, name: str, version: str) -> str:
    """Hash of the shadow counts of a challenger version (gridtwin.serving.versions)."""
    return f"{prefix}{model_tag(name)}:{version}:stats"


def index_key(prefix: str, name: str, version: str) -> str:
    return f"{prefix}{model_tag(name)}:{version}:buckets"


#: One bucket's counts in one call: the reading count, every (column|bin) increment, the
#: meters' HyperLogLog and the index, with their TTLs; answers the newest indexed bucket.
#: KEYS: bucket hash, its meters, the version's index (one `{drift:<model>}` slot).
#: ARGV: ttl, bucket, readings, field count, field1, increment1, …, then the meters.
ADD_LUA = """
local ttl = tonumber(ARGV[1])
local fields = tonumber(ARGV[4])
redis.call('HINCRBY', KEYS[1], 'n', ARGV[3])
for i = 0, fields - 1 do
  redis.call('HINCRBY', KEYS[1], ARGV[5 + 2 * i], ARGV[6 + 2 * i])
end
redis.call('EXPIRE', KEYS[1], ttl)
local first = 5 + 2 * fields
if #ARGV >= first then
  for i = first, #ARGV, 4000 do
    redis.call('PFADD', KEYS[2], unpack(ARGV, i, math.min(i + 3999, #ARGV)))
  end
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[2])
redis.call('EXPIRE', KEYS[3], ttl)
return redis.call('ZREVRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2]
"""

#: One model call's counts: (model, version, counts per bucket, readings per bucket, meters per bucket).
Batch = tuple[
    str, str, Mapping[int, Mapping[str, np.ndarray]], Mapping[int, int], Mapping[int, Sequence[str]] | None
]


async def add(
    redis: Any,
    prefix: str,
    name: str,
    version: str,
    per_bucket: Mapping[int, Mapping[str, np.ndarray]],
    readings: Mapping[int, int],
    cfg: WindowSettings,
    meters: Mapping[int, Sequence[str]] | None = None,
) -> None:
    """Add one batch's bin counts (grouped by bucket), and the meters seen per bucket."""
    await add_many(redis, prefix, [(name, version, per_bucket, readings, meters)], cfg)


def _merge(batches: Sequence[Batch]) -> dict[tuple[str, str, int], tuple[dict[str, int], int, set[str]]]:
    """The batches' counts summed per (model, version, bucket) as hash fields `column|bin`."""
    merged: dict[tuple[str, str, int], tuple[dict[str, int], int, set[str]]] = {}
    for name, version, per_bucket, readings, meters in batches:
        for bucket, counts in per_bucket.items():
            fields, n, seen = merged.get((name, version, bucket), ({}, 0, set()))
            for column, bins in counts.items():
                for b, count in enumerate(np.asarray(bins).tolist()):  # a few bins: Python ints
                    if count:
                        field = f"{column}|{b}"
                        fields[field] = fields.get(field, 0) + int(count)
            seen.update((meters or {}).get(bucket) or ())
            merged[(name, version, bucket)] = (fields, n + int(readings[bucket]), seen)
    return merged


#: The newest bucket at which this process last pruned each (prefix, model, version) window.
_PRUNED_AT: dict[tuple[str, str, str], int] = {}


async def add_many(redis: Any, prefix: str, batches: Sequence[Batch], cfg: WindowSettings) -> None:
    """Add the counts of many model calls: summed per (model, version, bucket), each bucket
    one script call, all in one pipelined round trip, then one more for the buckets that slid
    out of the windows. Each module sends this after every call: one HINCRBY per (column, bin)
    and two round trips per model cost more than the sixteen models' own compute for a
    one-reading call (measured with bench's in-process pipeline)."""
    merged = _merge(batches)
    if not merged:
        return
    calls = []
    for (name, version, bucket), (fields, n, seen) in merged.items():
        keys = (
            bucket_key(prefix, name, version, bucket),
            meters_key(prefix, name, version, bucket),
            index_key(prefix, name, version),
        )
        args = [cfg.ttl_s, bucket, n, len(fields), *(x for kv in fields.items() for x in kv), *sorted(seen)]
        calls.append(ScriptCall(keys, args))
    newest: dict[tuple[str, str], int] = {}
    oldest_added: dict[tuple[str, str], int] = {}
    for (name, version, bucket), reply in zip(merged, await eval_calls(redis, ADD_LUA, calls), strict=True):
        top = int(float(reply))
        newest[(name, version)] = max(newest.get((name, version), top), top)
        oldest_added[(name, version)] = min(oldest_added.get((name, version), bucket), bucket)
    # Buckets slide out only when the newest one advances (whoever sees it advance prunes) or
    # when a batch adds one already out of the window (its adder prunes): otherwise there is
    # nothing to delete, and the round trip is skipped.
    due = {
        key: top
        for key, top in newest.items()
        if _PRUNED_AT.get((prefix, *key)) != top or oldest_added[key] <= top - cfg.buckets
    }
    if due:
        await _drop_old(redis, prefix, due, cfg)
        _PRUNED_AT.update({(prefix, *key): top for key, top in due.items()})


async def _drop_old(
    redis: Any, prefix: str, newest: Mapping[tuple[str, str], int], cfg: WindowSettings
) -> None:
    """Delete the buckets that slid out of each version's window now, not at their TTL."""
    pipe = redis.pipeline(transaction=False)
    for (name, version), top in newest.items():
        pipe.zrangebyscore(index_key(prefix, name, version), "-inf", top - cfg.buckets)
    drop = redis.pipeline(transaction=False)
    for (name, version), old in zip(newest, await pipe.execute(), strict=True):
        if old:
            drop.delete(*(bucket_key(prefix, name, version, int(m)) for m in old))
            drop.delete(*(meters_key(prefix, name, version, int(m)) for m in old))
            drop.zrem(index_key(prefix, name, version), *old)
    if len(drop):
        await drop.execute()


@dataclass(frozen=True)
class Window:
    """The window's counts per column, its readings, the seconds its buckets span (oldest
    bucket's start to newest bucket's end) and its distinct meters."""

    counts: dict[str, np.ndarray]
    readings: int
    span_s: int
    meters: int


async def read(
    redis: Any, prefix: str, name: str, version: str, cfg: WindowSettings, bins: Mapping[str, int]
) -> Window:
    """The current window (bins per column from the reference)."""
    index = index_key(prefix, name, version)
    latest = await redis.zrevrange(index, 0, 0, withscores=True)
    if not latest:
        return Window({}, 0, 0, 0)
    newest = int(latest[0][1])
    oldest = newest - cfg.buckets + 1
    members = await redis.zrangebyscore(index, oldest, newest)
    pipe = redis.pipeline(transaction=False)
    for member in members:
        pipe.hgetall(bucket_key(prefix, name, version, int(member)))
    window: dict[str, np.ndarray] = {c: np.zeros(n, dtype=np.int64) for c, n in bins.items()}
    total = 0
    for fields in await pipe.execute():
        for raw_field, raw_value in fields.items():
            field = raw_field.decode() if isinstance(raw_field, bytes) else raw_field
            if field == "n":
                total += int(raw_value)
                continue
            column, _, b = field.rpartition("|")
            if column in window and int(b) < len(window[column]):
                window[column][int(b)] += int(raw_value)
    if not members:
        return Window(window, total, 0, 0)
    meters = await redis.pfcount(*(meters_key(prefix, name, version, int(m)) for m in members))
    return Window(window, total, (newest - int(members[0]) + 1) * cfg.bucket_s, int(meters))


def group_by_bucket(timestamps_s: np.ndarray, bucket_s: int) -> dict[int, np.ndarray]:
    """Row indices per time bucket of the readings' timestamps."""
    buckets = (timestamps_s // bucket_s).astype(np.int64)
    return {int(b): np.flatnonzero(buckets == b) for b in np.unique(buckets)}
