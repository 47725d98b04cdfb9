"""3.4 demand response: clustering quality, profile state (Python = Redis Lua), served outputs."""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from gridtwin.decision.profile import BUCKET_S, FIELDS, ProfileAggregate, aggregate_bucket_means, bucket_of
from gridtwin.registry import load_entry
from gridtwin.v1 import assessment_pb2
from tests.models.simulator_batches import batch, readings, sub
from training.pipeline import dataset_dir


def test_manifest_quality(quick_registry) -> None:
    m = load_entry("demand_response", quick_registry).manifest["metrics"]
    assert m["adjusted_rand_index"]["value"] > m["adjusted_rand_index"]["baseline"]
    assert m["adjusted_rand_index"]["value"] > 0.4
    assert m["silhouette"]["value"] > 0.3
    assert m["named_segment_accuracy"]["value"] > m["named_segment_accuracy"]["baseline"]


def test_online_aggregate_equals_bucket_means() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(0, 3 * 86400, 60.0)
    p = rng.normal(800, 300, len(t))
    q = 0.3 * p
    online = ProfileAggregate()
    for ti, pi, qi in zip(t, p, q, strict=True):
        online.update(ti, pi, qi)
    online.update(t[-1] + BUCKET_S, 0.0, 0.0)  # close the last bucket
    b = np.array([bucket_of(ti) for ti in t])  # a reading stamped on a boundary ends its bucket
    assert b[0] == -1 and b[1] == b[15] == 0 and b[16] == 1
    means_p = pd.Series(p).groupby(b).mean().to_numpy()
    means_q = pd.Series(q).groupby(b).mean().to_numpy()
    offline = aggregate_bucket_means(np.unique(b), means_p, means_q)
    assert np.allclose(online.agg, offline)


def test_redis_script_equals_python(redis_url, redis_prefix) -> None:
    import redis.asyncio as aioredis

    from gridtwin.decision.profile import LUA_UPDATE, ProfileCache

    rng = np.random.default_rng(1)
    t = 1684108800 + np.arange(0, 5 * 3600, 60.0)
    p = rng.normal(500, 100, len(t))
    cache = ProfileCache()
    ref = ProfileAggregate()
    full_replies = 0

    async def run() -> None:
        nonlocal full_replies
        client = aioredis.Redis.from_url(redis_url)
        script = client.register_script(LUA_UPDATE)
        for j in range(len(t)):  # one reading per call, as in serving
            key = f"{redis_prefix}dr:m1"
            reply = (
                await script(
                    keys=[key],
                    args=[bucket_of(t[j]), float(p[j]), float(0.2 * p[j]), cache.cached_prev("m1")],
                )
            )[0]
            full_replies += b"|" in reply
            got = cache.resolve("m1", reply)
            ref.update(t[j], p[j], 0.2 * p[j])
            assert got.shape == (len(FIELDS),)
            assert np.allclose(got, ref.agg)
        await client.aclose()

    asyncio.run(run())
    # the aggregate is only re-sent when a 15-min bucket closes (plus the first reply)
    assert full_replies == 1 + len({bucket_of(ti) for ti in t}) - 1


def _model(quick_registry):
    from gridtwin.models.demand_response import Model

    return Model(load_entry("demand_response", quick_registry))


def test_cold_start_is_degraded(quick_registry) -> None:
    model = _model(quick_registry)
    b = batch(readings("kerber_dorfnetz", "-C", n=3))
    out = model.predict(b)  # no prepare → no profile state
    assert all(o.info.status == assessment_pb2.DEGRADED and o.customer_segment == "" for o in out)
    from gridtwin.decision.profile import empty

    b.context["demand_response"] = np.stack([empty() for _ in range(3)])
    out = model.predict(b)
    assert all(o.info.status == assessment_pb2.DEGRADED and "cold start" in o.info.detail for o in out)


def _profiles_batch(n: int = 12):
    """A batch of customer readings carrying 12 real customers' profile aggregates."""
    ls = pd.read_parquet(dataset_dir("quick", 0) / "ieee_european_lv" / "load_series.parquet")
    ls = ls[ls["kind"] == "customer"].sort_values(["meter_id", "timestamp"])
    meters = ls["meter_id"].unique()[:n]
    aggs = []
    for mid in meters:
        g = ls[ls["meter_id"] == mid]
        bucket = g["timestamp"].astype("int64").to_numpy() // 10**9 // BUCKET_S
        aggs.append(
            aggregate_bucket_means(bucket, g["active_power_w"].to_numpy(), g["reactive_power_var"].to_numpy())
        )
    b = batch(readings("kerber_dorfnetz", "-C", n=len(meters)))
    b.context["demand_response"] = np.stack(aggs)
    return b


def test_served_segments_from_profiles(quick_registry) -> None:
    model = _model(quick_registry)
    b = _profiles_batch()
    out = model.predict(b)
    for o in out:
        assert o.info.status == assessment_pb2.OK
        assert o.customer_segment in ("base_load", "peak_shaver", "flexible", "critical")
        assert o.dr_potential_kw >= 0.0 and o.recommended_program
    # vectorised == single rows

    for i in range(len(b)):
        assert model.predict(sub(b, i))[0] == out[i]


def test_programme_only_when_the_potential_is_material(quick_registry) -> None:
    from gridtwin.models.demand_response import Model
    from gridtwin.serving.model import ModelConfig

    entry = load_entry("demand_response", quick_registry)
    b = _profiles_batch()
    out = Model(entry, ModelConfig(min_dr_potential_kw=0.0)).predict(b)
    assert all(o.recommended_program not in ("", "none") for o in out)
    threshold = float(np.median([o.dr_potential_kw for o in out]))
    gated = Model(entry, ModelConfig(min_dr_potential_kw=threshold)).predict(b)
    for o, g in zip(out, gated, strict=True):
        assert g.customer_segment == o.customer_segment and g.info.severity == assessment_pb2.NORMAL
        if o.dr_potential_kw < threshold:
            assert g.recommended_program == "none" and g.info.detail.startswith("no action")
        else:
            assert g.recommended_program == o.recommended_program


@pytest.mark.parametrize("n", [1, 3])
def test_prepare_round_trip(quick_registry, redis_url, redis_prefix, n) -> None:
    import redis.asyncio as aioredis

    from gridtwin.serving.state import MeterState

    model = _model(quick_registry)
    b = batch(readings("kerber_dorfnetz", "-C", n=n))

    async def run() -> None:
        client = aioredis.Redis.from_url(redis_url)
        state = MeterState(client, redis_prefix, model.name)
        await model.prepare(b, state)
        assert await client.exists(state.key(b.meter_ids[0]))  # the model's own namespace
        await client.aclose()

    asyncio.run(run())
    assert b.context["demand_response"].shape == (n, len(FIELDS))
    out = model.predict(b)
    assert all(o.info.status == assessment_pb2.DEGRADED for o in out)  # one reading: still cold
