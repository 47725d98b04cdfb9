"""Throughput of the history consumer: stream entries → database rows per second.

Fills a private stream (unique prefix on REDIS_URL) with N entries of realistic size (a
reading plus an assessment with all sixteen model fields filled as the mesh fills them),
then runs the consumer group in this process until every entry is acknowledged, on SQLite
(a temporary file) and, when reachable, PostgreSQL (a temporary database, dropped after).

    .venv/bin/python -m bench.history_consumer --entries 20000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid

import redis
import redis.asyncio as aioredis

from gridtwin.history.consumer import StreamConsumer
from gridtwin.history.repository import Repository
from gridtwin.history.stream import GROUP, encode, stream_key
from gridtwin.mesh import delete_redis_prefix
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2
from tests.history.items import T0_S, item

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"


def fill(url: str, prefix: str, entries: int, meters: int) -> int:
    client = redis.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    size = 0
    for k in range(entries):
        it = item(f"bench-{k % meters}", T0_S + 60 * (k // meters), vuf=1.0, thd=3.0, severity=1)
        for name in MODEL_MODULE:
            info = getattr(it.assessment, name).info
            info.status, info.model_name, info.model_version = assessment_pb2.OK, name, "0123456789abcdef"
            info.detail = "a typical detail string of a few dozen characters"
        fields = encode(it.reading, it.assessment)
        size += sum(len(v) for v in fields.values())
        pipe.xadd(stream_key(prefix), fields)
        if k % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return size // entries


async def drain(url: str, prefix: str, repo: Repository, entries: int) -> float:
    client = aioredis.Redis.from_url(url)
    consumer = StreamConsumer(client, prefix, repo, name="bench")
    started = time.perf_counter()
    task = asyncio.create_task(consumer.run())
    while consumer.stats.entries < entries:
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    task.cancel()
    assert repo.count() == entries
    assert (await client.xpending(stream_key(prefix), GROUP))["pending"] == 0
    await client.aclose()
    return elapsed


def run_one(label: str, db_url: str, redis_url: str, entries: int, meters: int) -> None:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    try:
        size = fill(redis_url, prefix, entries, meters)
        repo = Repository(db_url)
        repo.create_schema()
        elapsed = asyncio.run(drain(redis_url, prefix, repo, entries))
        repo.dispose()
        print(
            f"{label}: {entries} entries ({size} B each) in {elapsed:.1f} s = {entries / elapsed:.0f} rows/s"
        )
    finally:
        delete_redis_prefix(redis_url, prefix)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--meters", type=int, default=12)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_one("sqlite", f"sqlite:///{tmp}/h.sqlite3", args.redis_url, args.entries, args.meters)
    try:
        import psycopg

        name = f"gridtwin_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        print(f"postgresql: skipped ({exc})")
        return
    try:
        run_one(
            "postgresql",
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
            args.redis_url,
            args.entries,
            args.meters,
        )
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
