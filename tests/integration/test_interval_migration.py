"""`gridtwin redis migrate-intervals` on the real Redis, under a private prefix: a 15-min meter's
load history written with the old ⌊t / 15 min⌋ buckets moves to the intervals its readings end
(gridtwin.core.intervals), a 1-min meter's is left alone, and a second run changes nothing."""

from __future__ import annotations

import redis

from gridtwin.core.intervals import interval_of
from gridtwin.intervalmigration import NO_RECORD, OTHER, SHIFTED, migrate_intervals
from gridtwin.serving.state import MeterState

T0 = 1_700_006_400  # a 15-min boundary


def _old_15min(client: redis.Redis, acc: str, loads: list[float]) -> None:
    """What the old code stored for readings stamped T0 + 900·j: each in bucket ⌊t / 900⌋,
    and at each refresh that reading recorded as the interval in progress (`ls`/`ln`)."""
    for j, load in enumerate(loads, start=1):
        k = (T0 + 900 * j) // 900
        client.hset(acc, mapping={f"{k}:s": load, f"{k}:n": 1, f"{k}:ls": load, f"{k}:ln": 1})
    client.expire(acc, 3600)


def _stored(client: redis.Redis, acc: str) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in client.hgetall(acc).items()}


def test_15_min_history_moves_to_the_interval_each_reading_ends(redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    state = MeterState(client, redis_prefix, "load_forecast")
    acc, fc = state.key("ami", "acc"), state.key("ami", "fc")
    loads = [1000.0, 1100.0, 1200.0, 1300.0]
    _old_15min(client, acc, loads)
    # after the upgrade, before the migration: the new code adds T0 + 900·5 to the interval it
    # ends, the one that already holds the old reading of T0 + 900·4
    last = interval_of(T0 + 900 * 5, 0, 900)
    client.hincrbyfloat(acc, f"{last}:s", 1400.0)
    client.hincrby(acc, f"{last}:n", 1)
    client.set(fc, b"{}", ex=3600)
    minute = state.key("one-min", "acc")  # 15 readings per interval: left alone
    client.hset(
        minute, mapping={"5:s": 15_000.0, "5:n": 15, "6:s": 900.0, "6:n": 1, "6:ls": 900.0, "6:ln": 1}
    )
    before = _stored(client, minute)

    dry = migrate_intervals(client, redis_prefix, dry_run=True)
    assert dry == {SHIFTED: 1, OTHER: 1} and client.exists(fc)  # dry: unchanged

    assert migrate_intervals(client, redis_prefix) == {SHIFTED: 1, OTHER: 1}
    want: dict[str, float] = {}
    for j, load in enumerate([*loads, 1400.0], start=1):
        k = interval_of(T0 + 900 * j, 0, 900)
        want |= {f"{k}:s": load, f"{k}:n": 1.0}
    assert _stored(client, acc) == want
    assert not client.exists(fc) and 0 < client.ttl(acc) <= 3600
    assert _stored(client, minute) == before

    assert migrate_intervals(client, redis_prefix) == {NO_RECORD: 1, OTHER: 1}  # idempotent
    assert _stored(client, acc) == want
    client.close()
