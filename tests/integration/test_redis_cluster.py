"""The ingest's Redis use on a real three-master Redis Cluster: the client factory
(`REDIS_CLUSTER_NODES`), meter hash tags, de-duplication across slots, readiness. The feature
state and the whole mesh on the cluster: test_cluster_feature_state.py, test_cluster_mesh.py."""

from __future__ import annotations

import shutil
import uuid

import pytest
from redis.cluster import key_slot

from gridtwin.core.redis_client import cluster_nodes, connect, redis_ready
from gridtwin.ingest.dedup import Deduplicator, Outcome, classify, dedup_key, reading_digest
from tests.cluster_fixture import RedisClusterFixture
from tests.readings import make_reading

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("redis-cli"), reason="redis-cli (Debian redis-tools) not installed"),
]


@pytest.fixture(scope="module")
def cluster_seeds():
    with RedisClusterFixture() as seeds:
        yield seeds


def test_seed_list_parsing():
    assert cluster_nodes("10.0.0.1:7000, redis-1:7001") == [("10.0.0.1", 7000), ("redis-1", 7001)]
    assert cluster_nodes("") == []


def test_keys_of_one_meter_share_a_slot_and_meters_spread_over_slots():
    prefix = "gridtwin:"
    a = [dedup_key(prefix, make_reading("meter-a", t=1_700_000_000 + i)) for i in range(5)]
    assert len({key_slot(k.encode()) for k in a}) == 1
    many = {key_slot(dedup_key(prefix, make_reading(f"m-{i}", t=1_700_000_000)).encode()) for i in range(50)}
    assert len(many) > 10


async def test_deduplication_across_slots_on_a_real_cluster(cluster_seeds):
    client = connect(nodes=cluster_seeds)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    dedup = Deduplicator(client, prefix, ttl_s=60, pending_ttl_s=5)
    readings = [make_reading(f"cl-{i}", t=1_700_000_000 + i) for i in range(60)]
    keys = [dedup.key(r) for r in readings]
    digests = [reading_digest(r) for r in readings]
    try:
        assert await redis_ready(client, prefix, "ingest")
        pipe = client.pipeline(transaction=False)
        dedup.queue_claims(pipe, keys, digests)
        first = [classify(d, p) for d, p in zip(digests, await pipe.execute(), strict=True)]
        assert first == [Outcome.FRESH] * len(readings)
        await dedup.commit(keys, digests)
        pipe = client.pipeline(transaction=False)
        dedup.queue_claims(pipe, keys, digests)
        again = [classify(d, p) for d, p in zip(digests, await pipe.execute(), strict=True)]
        assert again == [Outcome.DUPLICATE] * len(readings)
        changed = readings[0].__class__()
        changed.CopyFrom(readings[0])
        changed.frequency += 0.1
        pipe = client.pipeline(transaction=False)
        dedup.queue_claims(pipe, [keys[0]], [reading_digest(changed)])
        assert classify(reading_digest(changed), (await pipe.execute())[0]) is Outcome.CONFLICT
        ttls = [await client.ttl(k) for k in keys[:5]]
        assert all(0 < t <= 60 for t in ttls), ttls
        # Releasing drops only claims still pending: these digests are committed, so they stay.
        assert await dedup.release(keys, digests) == 0
        assert sum([await client.exists(k) for k in keys]) == len(keys)
        pipe = client.pipeline(transaction=False)
        fresh = [make_reading(f"cl-{i}", t=1_700_100_000 + i) for i in range(60)]
        fresh_keys, fresh_digests = [dedup.key(r) for r in fresh], [reading_digest(r) for r in fresh]
        dedup.queue_claims(pipe, fresh_keys, fresh_digests)
        await pipe.execute()
        assert await dedup.release(fresh_keys, fresh_digests) == len(fresh)  # one call per slot
        assert sum([await client.exists(k) for k in fresh_keys]) == 0
        await client.delete(*keys)
    finally:
        await client.aclose()


async def test_drift_window_counts_of_several_models_on_a_real_cluster(cluster_seeds):
    """One flush carries several models' counts (one `{drift:<model>}` slot each): the script
    calls, the prune and the window's read each stay within a model's slot."""
    import numpy as np

    from gridtwin.lifecycle import window

    client = connect(nodes=cluster_seeds)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    cfg = window.WindowSettings(bucket_s=60, window_s=180, ttl_s=600, psi_threshold=0.2, min_readings=1)
    models = ["voltage_anomaly", "voltage_sag", "grid_stability"]
    assert len({key_slot(window.index_key(prefix, m, "v").encode()) for m in models}) > 1
    batches = [
        (m, "v", {b: {"a": np.array([1, k, 2])}}, {b: 3}, {b: [f"m{b}", f"m{k}"]})
        for k, m in enumerate(models)
        for b in range(5)
    ]
    try:
        await window.add_many(client, prefix, batches, cfg)
        for k, m in enumerate(models):
            current = await window.read(client, prefix, m, "v", cfg, {"a": 3})
            assert current.readings == 9 and current.counts["a"].tolist() == [3, 3 * k, 6]
            assert current.meters == len({"m2", "m3", "m4", f"m{k}"})
            assert not await client.exists(window.bucket_key(prefix, m, "v", 1))  # slid out
    finally:
        for m in models:
            for b in range(5):
                await client.delete(
                    window.bucket_key(prefix, m, "v", b), window.meters_key(prefix, m, "v", b)
                )
            await client.delete(window.index_key(prefix, m, "v"))
        await client.aclose()
