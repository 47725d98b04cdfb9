"""A reading applied to the rolling state whose answer was lost (gridtwin.ingest.dedup's
``APPLIED`` state), against the real Redis: its feature row is recomputed exactly from the
inputs the feature script stored, and only one call may hand it to the models."""

from __future__ import annotations

import numpy as np
import redis.asyncio as aioredis

from gridtwin.features.state import FeatureState
from gridtwin.ingest.dedup import (
    APPLIED_MARK,
    Deduplicator,
    commit_marks,
    dedup_key,
    inputs_key,
    reading_digest,
)
from tests.readings import make_reading


def _batch(t0: float, meters: int, per_meter: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(per_meter):
        for m in range(meters):
            r = make_reading(f"rec-{m}", t=t0 + 60 * k + m)
            r.voltage.a *= 1 + rng.normal(0, 0.02)  # readings differ, so the windows matter
            r.active_power.b += rng.normal(0, 200)
            if m % 2:
                r.ClearField("nominal_voltage")  # inferred nominal, resolved inside the script
            out.append(r)
    return out


async def test_recompute_from_stored_inputs_equals_the_rows_of_the_update(redis_url, redis_prefix):
    client = aioredis.Redis.from_url(redis_url)
    state = FeatureState(client, prefix=redis_prefix)
    t0 = 1_764_000_000.0
    try:
        await state.update(_batch(t0 - 10_000, meters=4, per_meter=14, seed=1))  # full windows for some
        batch = _batch(t0, meters=5, per_meter=3, seed=2)  # a new meter, and 3 readings per meter
        marks = commit_marks(redis_prefix, batch, ttl_s=60)
        rows = await state.update_and_compute(batch, marks)
        stored = [await client.get(inputs_key(redis_prefix, r)) for r in batch]
        assert all(s is not None for s in stored)
        marked = [await client.get(dedup_key(redis_prefix, r)) for r in batch]
        assert marked == [APPLIED_MARK + reading_digest(r) for r in batch]
        again = state.recompute(batch, stored)
        np.testing.assert_array_equal(again, rows)  # bit for bit, NaN where the update had NaN
        # A reading's inputs do not depend on its batch: recomputed alone, same row.
        np.testing.assert_array_equal(state.recompute(batch[7:8], stored[7:8]), rows[7:8])
    finally:
        await client.aclose()


async def test_only_one_call_turns_an_applied_reading_into_an_assessed_one(redis_url, redis_prefix):
    client = aioredis.Redis.from_url(redis_url)
    state = FeatureState(client, prefix=redis_prefix)
    dedup = Deduplicator(client, redis_prefix, ttl_s=120, pending_ttl_s=5)
    batch = _batch(1_764_100_000.0, meters=3, per_meter=2, seed=3)
    digests = [reading_digest(r) for r in batch]
    try:
        await state.update_and_compute(batch, commit_marks(redis_prefix, batch, ttl_s=120))
        assert await dedup.finish(batch, digests) == [True] * len(batch)
        # The original call and a retry race: the second to finish hands nothing to the models.
        assert await dedup.finish(batch, digests) == [False] * len(batch)
        for r, d in zip(batch, digests, strict=True):
            assert await client.get(dedup_key(redis_prefix, r)) == d
            assert 0 < await client.ttl(dedup_key(redis_prefix, r)) <= 120  # the window's TTL is kept
            assert not await client.exists(inputs_key(redis_prefix, r))
        assert await dedup.inputs(batch) == [None] * len(batch)
    finally:
        await client.aclose()
