"""Soak: the whole mesh under a steady stream for `--duration-s` (10 minutes in `make bench`),
resident memory of every service sampled over time.

After a warm-up (`--warmup-s`, models warmed, caches and pools at size) each service's
resident set size must not grow by more than 5 % to the end of the run: a leak (unbounded
queues, per-meter dicts, stream buffers) shows up here long before it kills a pod. Redis's
own `used_memory` is reported beside it (it grows by design with retained de-duplication
digests, bounded by their TTL; docs/deploy.md has the formula). Runs on a private
redis-server; writes var/bench/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import psutil
import redis

from bench.run import reading
from gridtwin.mesh import ROOT, LocalRedis, Mesh
from gridtwin.registry import list_entries, registry_dir
from gridtwin.v1 import gateway_pb2_grpc

GOAL_GROWTH = 0.05


async def _drive(address: str, until: float, rate_per_s: float, meters: int, counts: dict[str, int]) -> None:
    """Two AssessStream calls at `rate_per_s` readings/s in total, new readings only."""
    rng = np.random.default_rng(11)
    t0 = float(int(time.time()) - 30 * 86400)

    async def one(k: int, stub: gateway_pb2_grpc.GridTwinStub) -> None:
        async def source():  # type: ignore[no-untyped-def]
            i = 0
            period = 2.0 / rate_per_s
            next_at = time.monotonic()
            while time.monotonic() < until:
                yield reading(f"soak-{k}-{i % meters}", t0 + i // meters, rng)
                i += 1
                next_at += period
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

        async for assessment in stub.AssessStream(source(), timeout=until - time.monotonic() + 120):
            counts["ok" if assessment.status.code == 0 else "failed"] += 1

    async with grpc.aio.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        await asyncio.gather(one(0, stub), one(1, stub))


async def _sample(mesh: Mesh, client: redis.Redis, until: float, every_s: float, out: list[dict]) -> None:
    procs = {s: psutil.Process(pid) for s, pid in mesh.pids().items()}
    started = time.monotonic()
    while time.monotonic() < until:
        out.append(
            {
                "t_s": round(time.monotonic() - started, 1),
                "rss_mb": {s: p.memory_info().rss / 2**20 for s, p in procs.items()},
                "redis_used_mb": int(client.info("memory")["used_memory"]) / 2**20,
            }
        )
        await asyncio.sleep(every_s)


KEY_FAMILIES = {
    "dedup digest": "dd:*",
    "feature window": "meter:*:window",
    "feature profile": "meter:*:profile",
    "demand-response profile": "demand_response:*",
    "load-forecast accumulators": "load_forecast:*:acc",
    "load-forecast cache": "load_forecast:*:fc",
    "asset stress": "equipment_failure:*",
    "history stream": "history:*",
}


def key_sizes(client: redis.Redis, prefix: str, sample: int = 50) -> dict[str, dict[str, float]]:
    """Mean `MEMORY USAGE` (bytes) and count of each key family the mesh wrote."""
    out = {}
    for family, pattern in KEY_FAMILIES.items():
        keys = list(client.scan_iter(match=prefix + pattern, count=1000))
        if keys:
            sizes = [int(client.memory_usage(k, samples=0) or 0) for k in keys[:sample]]
            out[family] = {"keys": len(keys), "mean_bytes": float(np.mean(sizes))}
    return out


def growth(samples: list[dict], warmup_s: float) -> dict[str, float]:
    """Relative RSS growth per service from the first sample after warm-up to the end
    (the mean of the last three samples, so one GC moment does not decide)."""
    after = [s for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 2:
        raise ValueError("the run is too short for its warm-up")
    start = after[0]["rss_mb"]
    tail = after[-3:]
    return {svc: float((np.mean([s["rss_mb"][svc] for s in tail]) - mb) / mb) for svc, mb in start.items()}


async def soak(mesh: Mesh, client: redis.Redis, duration_s: float, rate: float, meters: int) -> dict:
    until = time.monotonic() + duration_s
    counts = {"ok": 0, "failed": 0}
    samples: list[dict] = []
    await asyncio.gather(
        _drive(mesh.address("gateway"), until, rate, meters, counts),
        _sample(mesh, client, until, max(2.0, duration_s / 60), samples),
    )
    return {"counts": counts, "samples": samples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration-s", type=float, default=600)
    parser.add_argument("--warmup-s", type=float, default=None, help="default: a fifth of the run, ≥ 30 s")
    parser.add_argument("--rate", type=float, default=400, help="readings/s in total")
    parser.add_argument("--meters", type=int, default=500, help="meters per stream")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "soak.json"))
    args = parser.parse_args()
    warmup = args.warmup_s if args.warmup_s is not None else max(30.0, args.duration_s / 5)
    local = LocalRedis().start()
    registered = sum(e is not None for e in list_entries().values())
    print(f"[soak] {args.duration_s:.0f} s at {args.rate:.0f} readings/s, {registered}/16 models", flush=True)
    mesh = Mesh(
        redis_url=local.url, redis_prefix=f"soak-{uuid.uuid4().hex[:6]}:", registry=registry_dir().resolve()
    )
    client = redis.Redis.from_url(local.url)
    try:
        mesh.start()
        mesh.wait_healthy(timeout=300)
        run = asyncio.run(soak(mesh, client, args.duration_s, args.rate, args.meters))
        sizes = key_sizes(client, mesh.redis_prefix)
    finally:
        mesh.stop()
        local.stop()
    grown = growth(run["samples"], warmup)
    worst = max(grown, key=grown.get)
    result = {
        "duration_s": args.duration_s,
        "warmup_s": warmup,
        "rate_per_s": args.rate,
        "models_registered": registered,
        "assessed": run["counts"],
        "rss_growth_after_warmup": grown,
        "worst": {"service": worst, "growth": grown[worst]},
        "goal_growth": GOAL_GROWTH,
        "met": bool(grown[worst] <= GOAL_GROWTH),
        "redis_used_mb": [run["samples"][0]["redis_used_mb"], run["samples"][-1]["redis_used_mb"]],
        "redis_key_sizes": sizes,
        "samples": run["samples"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"[soak] assessed {run['counts']['ok']} (failed {run['counts']['failed']}); RSS growth after "
        f"{warmup:.0f} s warm-up: "
        + ", ".join(f"{s} {100 * g:+.1f} %" for s, g in grown.items())
        + f"; worst {worst} {100 * grown[worst]:+.1f} % (goal ≤ {100 * GOAL_GROWTH:.0f} %)",
        flush=True,
    )
    for family, size in sizes.items():
        print(
            f"[soak] {family}: {size['keys']} keys, {size['mean_bytes']:.0f} B each (MEMORY USAGE)",
            flush=True,
        )


if __name__ == "__main__":
    main()
