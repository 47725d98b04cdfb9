"""The rolling feature state on a real three-master Redis Cluster: batches spread over many hash
slots give exactly the features of the DataFrame path (as on a single Redis), two replicas never
lose a reading, de-duplication digests are committed with the state, and claims are released per
slot (tests/cluster_fixture.py starts the cluster from Debian's redis-server)."""

from __future__ import annotations

import asyncio
import shutil
import uuid

import numpy as np
import pytest
import redis

from gridtwin.core.redis_client import connect, is_cluster, meter_tag, slot_of
from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.features.state import FeatureState
from gridtwin.ingest.dedup import APPLIED_MARK, PENDING_MARK, Deduplicator, commit_marks, reading_digest
from tests.cluster_fixture import RedisClusterFixture
from tests.integration.test_feature_state import _reading, _to_frame

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("redis-cli"), reason="redis-cli (Debian redis-tools) not installed"),
]


@pytest.fixture(scope="module")
def cluster_seeds():
    with RedisClusterFixture() as seeds:
        yield seeds


def _fleet(meters: int, per_meter: int, t0_s: int = 1_717_000_000) -> list:
    """Interleaved readings of many meters (120 V/60 Hz, 230 V/50 Hz and undeclared)."""
    out, seed = [], 0
    for k in range(per_meter):
        for m in range(meters):
            seed += 1
            vn, fn = ((120.0, 60.0), (230.0, 50.0), (None, None))[m % 3]
            t_ns = (t0_s + 60 * k) * 10**9 + (seed * 37_000_123) % 900_000_000
            out.append(_reading(f"fleet-{m:03d}", t_ns, seed, vn, fn))
    return out


def _nodes_holding(seeds: str, prefix: str) -> int:
    """How many cluster nodes hold keys under `prefix` (each node scans only its own slots)."""
    ports = [int(seed.rpartition(":")[2]) for seed in seeds.split(",")]
    return sum(1 for p in ports if next(redis.Redis(port=p).scan_iter(match=f"{prefix}*"), None) is not None)


async def _cleanup(client, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
    for k in keys:
        await client.delete(k)


async def test_batches_over_many_slots_give_the_dataframe_features(cluster_seeds):
    readings = _fleet(meters=60, per_meter=6)
    df = _to_frame(readings)
    expected = features_from_dataframe(df)[list(FEATURE_NAMES)].loc[df.index].to_numpy()
    client, prefix = connect(nodes=cluster_seeds), f"test-{uuid.uuid4().hex[:8]}:"
    try:
        assert is_cluster(client)
        state = FeatureState(client, prefix)
        slots = {slot_of(state.window_key(r.meter_id)) for r in readings}
        assert len(slots) > 40  # the batch really spans many slots (and all three nodes)
        parts = [await state.update_and_compute(readings[i : i + 97]) for i in range(0, len(readings), 97)]
        got = np.vstack(parts)
        assert np.allclose(got, expected, rtol=1e-12, atol=1e-12, equal_nan=True)
        nominal = await state.nominal_for(["fleet-000", "fleet-001"])
        assert nominal["fleet-000"].readings == 6 and nominal["fleet-001"].nominal_voltage_v == 230.0
        assert _nodes_holding(cluster_seeds, prefix) == 3
    finally:
        await _cleanup(client, prefix)
        await client.aclose()


async def test_two_replicas_on_the_cluster_never_lose_a_reading(cluster_seeds):
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    c1, c2 = connect(nodes=cluster_seeds), connect(nodes=cluster_seeds)
    replicas = [FeatureState(c1, prefix), FeatureState(c2, prefix)]
    meters, tasks, per_task = 40, 12, 5
    t0 = 1_700_000_000 * 10**9
    try:

        async def worker(task: int) -> None:
            for j in range(per_task):  # each batch: one reading of every meter
                batch = [
                    _reading(f"rep-{m:02d}", t0 + ((task * per_task + j) * 1000 + m) * 10**6, task * 1000 + j)
                    for m in range(meters)
                ]
                await replicas[task % 2].update(batch)
                await asyncio.sleep(0)

        await asyncio.gather(*(worker(t) for t in range(tasks)))
        nominal = await replicas[0].nominal_for([f"rep-{m:02d}" for m in range(meters)])
        assert {p.readings for p in nominal.values()} == {tasks * per_task}
    finally:
        await _cleanup(c1, prefix)
        await c1.aclose()
        await c2.aclose()


async def test_digests_are_committed_with_the_state_and_claims_released_per_slot(cluster_seeds):
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    client = connect(nodes=cluster_seeds)
    readings = _fleet(meters=50, per_meter=1)
    dedup = Deduplicator(client, prefix, ttl_s=60, pending_ttl_s=5)
    keys = [dedup.key(r) for r in readings]
    digests = [reading_digest(r) for r in readings]
    try:
        assert len({slot_of(k) for k in keys}) > 30
        assert all(meter_tag(r.meter_id) in k for r, k in zip(readings, keys, strict=True))
        pipe = client.pipeline(transaction=False)
        dedup.queue_claims(pipe, keys, digests)
        assert await pipe.execute() == [None] * len(keys)
        state = FeatureState(client, prefix)
        rows = await state.update_and_compute(readings[:30], commit_marks(prefix, readings[:30], 60))
        assert [await client.get(k) for k in keys[:30]] == [APPLIED_MARK + d for d in digests[:30]]
        assert [await client.get(k) for k in keys[30:]] == [PENDING_MARK + d for d in digests[30:]]
        # Releasing every claim drops only the pending ones: applied marks stay.
        assert await dedup.release(keys, digests) == 20
        assert [await client.get(k) for k in keys[:30]] == [APPLIED_MARK + d for d in digests[:30]]
        assert sum([await client.exists(k) for k in keys[30:]]) == 0
        # A lost answer: the rows come back exactly from the inputs stored per slot.
        stored = await dedup.inputs(readings[:30])
        np.testing.assert_array_equal(state.recompute(readings[:30], stored), rows)
        # Marked assessed per slot, once.
        assert await dedup.finish(readings[:30], digests[:30]) == [True] * 30
        assert await dedup.finish(readings[:30], digests[:30]) == [False] * 30
        assert [await client.get(k) for k in keys[:30]] == digests[:30]
        assert await dedup.inputs(readings[:30]) == [None] * 30
    finally:
        await _cleanup(client, prefix)
        await client.aclose()
