"""The models' per-meter state store (gridtwin/serving/state.py) on a real Redis and on a real
three-master Redis Cluster: its own namespace per model, one hash slot per meter, batch scripts
and MGET split per slot on a cluster (no CROSSSLOT) and one call on a single Redis, and every
stateful model's `prepare` giving the same state on both for a batch spanning many meters."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from redis.crc import key_slot

from gridtwin.assets import asset_key, write_assets
from gridtwin.core.redis_client import connect
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.module import default_factory
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2, reading_pb2
from tests.cluster_fixture import RedisClusterFixture

needs_cluster = pytest.mark.skipif(
    not shutil.which("redis-cli"), reason="redis-cli (redis-tools) not installed"
)

# Appends one reply per key: "<key>|<argv>|<how many times this key was seen in this call>".
ECHO = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  table.insert(out, key .. '|' .. ARGV[i] .. '|' .. n)
end
return out
"""


async def delete_prefix_keys(client: Any, prefix: str) -> None:
    """Delete the test's keys one by one (a multi-key DEL would cross slots on a cluster)."""
    async for key in client.scan_iter(match=f"{prefix}*"):
        await client.delete(key)


@pytest.fixture(scope="module")
def cluster_seeds() -> Iterator[str]:
    if not shutil.which("redis-cli"):
        pytest.skip("redis-cli (redis-tools) not installed")
    with RedisClusterFixture() as seeds:
        yield seeds


def meters(n: int) -> list[str]:
    return [f"st-{i}" for i in range(n)]


async def run_echo(client: Any, prefix: str) -> tuple[list[int], list[str], list[str]]:
    """The echo script over 31 items through the store; returns the keys per script call."""
    store = MeterState(client, prefix, "probe")
    calls: list[int] = []
    script = client.register_script(ECHO)

    async def spy(keys: list[str], args: list[Any]) -> Any:
        calls.append(len(keys))
        return await script(keys=keys, args=args)

    store._scripts[ECHO] = spy  # count the calls the store makes
    ids = [*meters(30), "st-3"]  # a meter twice: both its items, in batch order
    keys = [store.key(m) for m in ids]
    replies = await store.run_batch_script(ECHO, keys, [(i,) for i in range(len(ids))])
    return calls, keys, [r.decode() for r in replies]


async def test_store_keys_namespace_and_batch_script_on_redis(redis_url, redis_prefix) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        store = MeterState(client, redis_prefix, "load_forecast")
        assert store.key("m-1", "acc") == f"{redis_prefix}load_forecast:{{m-1}}:acc"
        assert key_slot(store.key("m-1", "acc").encode()) == key_slot(store.key("m-1", "fc").encode())
        assert MeterState(client, redis_prefix, "demand_response").key("m-1") != store.key("m-1")
        calls, keys, replies = await run_echo(client, redis_prefix)
        assert calls == [31]  # one call for the whole batch on a single Redis
        assert replies[:30] == [f"{k}|{i}|1" for i, k in enumerate(keys[:30])]
        assert replies[30] == f"{keys[3]}|30|2"  # the repeated meter saw its first item already
        await client.set(keys[0], b"0.8")
        store = MeterState(client, redis_prefix, "probe")
        assert await store.get_many([keys[0], store.key("absent")]) == [b"0.8", None]
        await client.hset(asset_key(redis_prefix, "st-1"), mapping={"battery_kw": 5, "genset_kw": "x"})
        assert await store.assets(["st-1", "st-2", "st-1"], ["battery_kw", "genset_kw"]) == {
            "st-1": {"battery_kw": 5.0}
        }
        with pytest.raises(ValueError, match="argument rows"):
            await store.run_batch_script(ECHO, keys[:2], [(1,)])
    finally:
        await client.aclose()


@needs_cluster
async def test_batch_script_and_mget_split_per_slot_on_a_cluster(cluster_seeds) -> None:
    client = connect(nodes=cluster_seeds)
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    try:
        calls, keys, replies = await run_echo(client, prefix)
        slots = {key_slot(k.encode()) for k in keys}
        assert len(slots) > 10  # the batch really spans many slots (and all three masters)
        assert len(calls) == len(slots) and sum(calls) == len(keys)
        assert replies[:30] == [f"{k}|{i}|1" for i, k in enumerate(keys[:30])]
        assert replies[30] == f"{keys[3]}|30|2"
        store = MeterState(client, prefix, "probe")
        assert await store.get_many(keys[:30]) == [b"1"] * 3 + [b"2"] + [b"1"] * 26
        await client.hset(asset_key(prefix, "st-7"), mapping={"battery_kw": 3.3})
        assert await store.assets(meters(30), ["battery_kw"]) == {"st-7": {"battery_kw": 3.3}}
    finally:
        await delete_prefix_keys(client, prefix)
        await client.aclose()


# ---- every stateful model's prepare, single Redis vs cluster ------------------------------------
STATEFUL = (
    "demand_response",
    "load_forecast",
    "equipment_failure",
    "overload_risk",
    "optimal_dispatch",
    "power_flow_optimization",
    "reactive_power",
    "load_balancing",
)


def model_batch(n_meters: int, t0: int, step_s: int, rows: int) -> ModuleBatch:
    """`rows` readings spread over `n_meters` meters (each meter several times, in time order)."""
    rng = np.random.default_rng(t0)
    readings, x = [], np.zeros((rows, len(FEATURE_NAMES)))
    col = {name: i for i, name in enumerate(FEATURE_NAMES)}
    for i in range(rows):
        ts = Timestamp(seconds=t0 + (i // n_meters) * step_s)
        readings.append(reading_pb2.Reading(meter_id=f"st-{i % n_meters}", timestamp=ts))
    x[:, col["active_power_total_w"]] = rng.uniform(500, 5000, rows)
    x[:, col["reactive_power_total_var"]] = rng.uniform(100, 1500, rows)
    x[:, col["current_max_a"]] = rng.uniform(5, 60, rows)
    x[:, col["ambient_temperature_c"]] = 20.0
    return ModuleBatch(
        readings=readings,
        features=x,
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in readings],
    )


def canonical(context: Any) -> str:
    def plain(value: Any) -> Any:
        return asdict(value) if is_dataclass(value) else np.asarray(value).tolist()

    return json.dumps(context, sort_keys=True, default=plain)


async def prepared_contexts(client: Any, prefix: str, models: dict[str, Any]) -> dict[str, str]:
    """Three successive batches (40 meters, 3 readings each, 10 min apart) through every model."""
    out = {}
    for name, model in models.items():
        store = MeterState(client, prefix, name)
        contexts = []
        for k in range(3):
            batch = model_batch(40, 1_700_006_400 + k * 1800, 600, 120)
            await model.prepare(batch, store)
            contexts.append(batch.context[name])
        out[name] = canonical(contexts)
    return out


@needs_cluster
async def test_every_stateful_model_prepares_a_many_slot_batch_on_a_cluster(
    quick_registry, cluster_seeds, redis_url
) -> None:
    models = {name: default_factory(name)(load_entry(name, quick_registry)) for name in STATEFUL}
    register = [
        {"meter_id": f"st-{i}", "rated_current_a": 80.0, "age_years": 12.0, "battery_kw": 5.0 * (i % 2)}
        for i in range(40)
    ]
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    single = aioredis.Redis.from_url(redis_url)
    cluster = connect(nodes=cluster_seeds)
    try:
        write_assets(redis.Redis.from_url(redis_url), prefix, register)
        write_assets(redis.RedisCluster.from_url(f"redis://{cluster_seeds.split(',')[0]}"), prefix, register)
        on_single = await prepared_contexts(single, prefix, models)
        on_cluster = await prepared_contexts(cluster, prefix, models)
    finally:
        await delete_prefix_keys(single, prefix)
        await delete_prefix_keys(cluster, prefix)
        await single.aclose()
        await cluster.aclose()
    for name in STATEFUL:
        assert on_cluster[name] == on_single[name], name
    # The state is real, not empty: profiles, forecasts, thermal state, ratings.
    assert len(json.loads(on_single["demand_response"])[2]) == 120
    assert len(json.loads(on_single["load_forecast"])[2]) == 40
    assert len(json.loads(on_single["overload_risk"])[0]) == 40
    eqf = json.loads(on_single["equipment_failure"])[2]
    assert len(eqf["assets"]) == 40 and np.isfinite(np.array(eqf["state"], float)).all()
    batteries = json.loads(on_single["optimal_dispatch"])[0]["equipment"]
    assert {m for m, e in batteries.items() if e["battery_kw"] == 5.0} == {f"st-{i}" for i in range(1, 40, 2)}


async def test_the_module_hands_each_model_its_config_and_own_store(
    quick_registry, redis_url, redis_prefix, monkeypatch
) -> None:
    """The decision module built from settings: ModelConfig from the environment, one store per
    model, and prepare → predict reading the asset register (what the service runs)."""
    import pandas as pd

    from gridsim.assets import simulated_assets
    from gridtwin.core.config import reset_settings
    from gridtwin.serving.module import ModuleServicer
    from services.decision.models import FACTORIES
    from tests.models.simulator_batches import batch, readings

    for name, value in {
        "GRIDTWIN_REGISTRY": str(quick_registry),
        "GRIDTWIN_REDIS_PREFIX": redis_prefix,
        "REDIS_URL": redis_url,
        "GRIDTWIN_MIN_SAVINGS_EUR_PER_H": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    servicer = ModuleServicer("decision", FACTORIES, tuple(FEATURE_NAMES), SCHEMA_VERSION)
    try:
        servicer.load_all()
        assert {n: s.namespace for n, s in servicer.states.items()} == {
            n: f"{redis_prefix}{n}:" for n in servicer.slots
        }
        assert all(slot.model.config.min_savings_eur_per_h == 0.5 for slot in servicer.slots.values())
        register = [r for r in simulated_assets() if r["meter_id"] in ("dorf-TR", "dorf-C004")]
        write_assets(redis.Redis.from_url(redis_url), redis_prefix, register)
        frames = [readings("kerber_dorfnetz", m, every=53, n=3) for m in ("-TR", "-C004")]
        b = batch(pd.concat(frames, ignore_index=True))
        await servicer.prepare(b)
        results = servicer.evaluate(b)
    finally:
        await servicer.redis.aclose()
        servicer.close()
    dispatch = {m: r.optimal_dispatch for m, r in zip(b.meter_ids, results, strict=True)}
    assert set(dispatch) == {"dorf-TR", "dorf-C004"}
    assert "no battery or genset" in dispatch["dorf-C004"].info.detail
    assert dispatch["dorf-TR"].solver in ("lp", "svr_surrogate")
    assert all("asset register not read" not in r.optimal_dispatch.info.detail for r in results)
