"""`gridtwin redis migrate` on the real Redis, under a private prefix: the old keys without a
TTL move to their hash-tagged names (the models read them there), the ones that expire are
left alone unless asked, and nothing of the new layout is touched."""

from __future__ import annotations

import asyncio

import redis
import redis.asyncio as aioredis

from gridtwin.assets import asset_key, read_assets
from gridtwin.cli import main
from gridtwin.keymigration import migrate, new_key


def _old_layout(client: redis.Redis, p: str) -> None:
    client.hset(f"{p}meter:m-1:asset", mapping={"rated_current_a": "250", "age_years": "31"})
    client.hset(f"{p}meter:m-2:asset", mapping={"rated_current_a": "100"})
    client.hset(asset_key(p, "m-2"), mapping={"rated_current_a": "160"})  # re-imported after the upgrade
    client.set(f"{p}dispatch:soc:m-1", b"0.8")
    client.set(f"{p}dispatch:soc:m-3", b"0.2", px=600_000)
    client.rpush(f"{p}meter:m-1:window", b"x" * 80)
    client.expire(f"{p}meter:m-1:window", 7 * 86400)
    client.set(f"{p}lf:m-1:fc", b"{}", ex=10 * 86400)
    client.set(f"{p}maint:eqf:m-1", b"stale")  # an expiring family that lost its TTL
    client.rpush(f"{p}meter:{{m-1}}:window", b"y" * 80)  # new layout: untouched


def test_migration_moves_keys_without_ttl_and_leaves_the_rest(redis_url, redis_prefix):
    client = redis.Redis.from_url(redis_url)
    p = redis_prefix
    _old_layout(client, p)
    dry = migrate(client, p, dry_run=True)
    assert dry.moved == {"meter:*:asset": 1, "dispatch:soc:*": 2}
    assert client.exists(f"{p}meter:m-1:asset") and not client.exists(asset_key(p, "m-1"))  # dry: unchanged

    report = migrate(client, p)
    assert report.moved == {"meter:*:asset": 1, "dispatch:soc:*": 2}
    assert report.kept_newer == {"meter:*:asset": 1}
    assert report.expiring == {"meter:*:window": 1, "lf:*:fc": 1}
    assert report.without_ttl == {"maint:eqf:*": 1} and not client.exists(f"{p}maint:eqf:m-1")

    # The models read the register where the migration put it; the newer import won.
    async def read() -> dict:
        async_client = aioredis.Redis.from_url(redis_url)
        try:
            return await read_assets(async_client, p, ["m-1", "m-2"], ["rated_current_a", "age_years"])
        finally:
            await async_client.aclose()

    assets = asyncio.run(read())
    assert assets["m-1"]["rated_current_a"] == 250 and assets["m-1"]["age_years"] == 31
    assert assets["m-2"]["rated_current_a"] == 160
    assert client.get(new_key(p, "dispatch:soc:*", f"{p}dispatch:soc:m-1")) == b"0.8"
    assert 0 < client.pttl(new_key(p, "dispatch:soc:*", f"{p}dispatch:soc:m-3")) <= 600_000  # TTL kept
    assert not client.exists(f"{p}meter:m-1:asset", f"{p}meter:m-2:asset", f"{p}dispatch:soc:m-1")
    assert client.exists(f"{p}meter:m-1:window") and client.lrange(f"{p}meter:{{m-1}}:window", 0, -1) == [
        b"y" * 80
    ]

    again = migrate(client, p, delete_expiring=True)  # safe to run twice
    assert not again.moved and again.deleted == {"meter:*:window": 1, "lf:*:fc": 1}
    assert client.exists(f"{p}meter:{{m-1}}:window", asset_key(p, "m-1")) == 2


def test_the_command_runs_against_the_configured_redis(redis_url, redis_prefix, monkeypatch, capsys):
    client = redis.Redis.from_url(redis_url)
    client.hset(f"{redis_prefix}meter:m-9:asset", mapping={"rated_current_a": "400"})
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("GRIDTWIN_REDIS_PREFIX", redis_prefix)
    assert main(["redis", "migrate"]) == 0  # settings are read afresh per test (conftest)
    assert f"{redis_prefix}meter:*:asset: 1 keys moved" in capsys.readouterr().out
    assert client.hget(asset_key(redis_prefix, "m-9"), "rated_current_a") == b"400"
