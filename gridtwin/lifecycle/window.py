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
    """Add one batch's bin counts (grouped by bucket), and the meters seen per bucket, in one
    pipelined round trip."""
    if not per_bucket:
        return
    index = index_key(prefix, name, version)
    pipe = redis.pipeline(transaction=False)
    for bucket, counts in per_bucket.items():
        key = bucket_key(prefix, name, version, bucket)
        pipe.hincrby(key, "n", int(readings[bucket]))
        for column, bins in counts.items():
            for b in np.flatnonzero(bins):
                pipe.hincrby(key, f"{column}|{b}", int(bins[b]))
        pipe.expire(key, cfg.ttl_s)
        if meters and meters.get(bucket):
            pipe.pfadd(meters_key(prefix, name, version, bucket), *meters[bucket])
            pipe.expire(meters_key(prefix, name, version, bucket), cfg.ttl_s)
        pipe.zadd(index, {str(bucket): bucket})
    pipe.expire(index, cfg.ttl_s)
    pipe.zrevrange(index, 0, 0, withscores=True)
    newest = int((await pipe.execute())[-1][0][1])
    # Buckets that slid out of the window are deleted now, not at their TTL.
    old = await redis.zrangebyscore(index, "-inf", newest - cfg.buckets)
    if old:
        drop = redis.pipeline(transaction=False)
        drop.delete(*(bucket_key(prefix, name, version, int(m)) for m in old))
        drop.delete(*(meters_key(prefix, name, version, int(m)) for m in old))
        drop.zrem(index, *old)
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
