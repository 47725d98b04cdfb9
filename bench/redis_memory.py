"""Redis bytes per retained reading and per meter, measured on a private redis-server.

Starts a private `redis-server` and the ingest and features services (real processes), sends
readings through `Ingest` (validation, de-duplication, rolling feature state) and reads
`INFO memory` (used_memory) before and after:

* phase A: `--meters` meters get HISTORY_DEPTH + 1 readings each (their windows fill);
* phase B: `--extra` more readings per meter (windows stay full; only de-duplication grows).

bytes per retained reading = phase-B growth / phase-B readings (goal ≤ 200);
bytes per meter = (phase-A growth - its readings × bytes per reading) / meters (goal ≤ 20 KB).
It also checks that every key written has a TTL. Per-meter state of the models (load
forecast, demand response, asset stress) and the assessments stream are not in this figure:
they need the trained registry (see docs/deploy.md for their sizes).
Writes var/bench/redis_memory.json.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import redis

from bench.run import reading
from gridtwin.features.schema import HISTORY_DEPTH
from gridtwin.mesh import ROOT, LocalRedis, Mesh
from gridtwin.v1 import reading_pb2, services_pb2_grpc

GOAL_PER_READING_B = 200
GOAL_PER_METER_B = 20 * 1024


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _send(stub: services_pb2_grpc.IngestStub, data: list[reading_pb2.Reading], batch: int) -> int:
    ok = 0
    for k in range(0, len(data), batch):
        result = stub.Ingest(reading_pb2.ReadingBatch(readings=data[k : k + batch]), timeout=60)
        ok += sum(1 for r in result.results if r.status.code == 0 and not r.duplicate)
    return ok


def _readings(meters: int, per_meter: int, t0: float, rng: np.random.Generator) -> list[reading_pb2.Reading]:
    return [reading(f"mem-{m:06d}", t0 + k, rng) for k in range(per_meter) for m in range(meters)]


def _sample_usage(client: redis.Redis, prefix: str) -> dict[str, int]:
    out = {}
    for kind, pattern in (
        ("dedup_key", f"{prefix}dd:*"),
        ("window_key", f"{prefix}meter:*:window"),
        ("profile_key", f"{prefix}meter:*:profile"),
    ):
        key = next(client.scan_iter(match=pattern, count=1000), None)
        if key is not None:
            out[kind] = int(client.memory_usage(key, samples=0) or 0)
    return out


def measure(meters: int, extra: int, batch: int) -> dict[str, object]:
    local = LocalRedis().start()
    prefix = f"mem-{uuid.uuid4().hex[:6]}:"
    mesh = Mesh(redis_url=local.url, redis_prefix=prefix, registry=ROOT / "registry")
    client = redis.Redis.from_url(local.url)
    rng = np.random.default_rng(7)
    t0 = float(int(time.time()) - 20 * 86400)  # meters report on whole seconds (interval ends)
    try:
        mesh.start(["features", "ingest"])
        mesh.wait_healthy(["features", "ingest"], timeout=60)
        with grpc.insecure_channel(mesh.address("ingest")) as channel:
            stub = services_pb2_grpc.IngestStub(channel)
            _send(stub, [reading("mem-warmup", t0 - 10, rng)], batch)  # scripts loaded, pools open
            base = _used(client)
            phase_a = _readings(meters, HISTORY_DEPTH + 1, t0, rng)
            ok_a = _send(stub, phase_a, batch)
            after_a = _used(client)
            phase_b = _readings(meters, extra, t0 + HISTORY_DEPTH + 1, rng)
            ok_b = _send(stub, phase_b, batch)
            after_b = _used(client)
        per_reading = (after_b - after_a) / max(ok_b, 1)
        per_meter = (after_a - base - ok_a * per_reading) / meters
        no_ttl = [k.decode() for k in client.scan_iter(match=f"{prefix}*", count=1000) if client.ttl(k) == -1]
        return {
            "meters": meters,
            "readings_phase_a": ok_a,
            "readings_phase_b": ok_b,
            "used_memory_bytes": {"base": base, "after_a": after_a, "after_b": after_b},
            "bytes_per_retained_reading": per_reading,
            "bytes_per_meter": per_meter,
            "memory_usage_sample": _sample_usage(client, prefix),
            "keys_without_ttl": no_ttl[:20],
            "goals": {"per_reading_b": GOAL_PER_READING_B, "per_meter_b": GOAL_PER_METER_B},
            "met": {
                "per_reading": per_reading <= GOAL_PER_READING_B,
                "per_meter": per_meter <= GOAL_PER_METER_B,
            },
        }
    finally:
        mesh.stop()
        local.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=2000)
    parser.add_argument("--extra", type=int, default=10, help="readings per meter after the windows are full")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "redis_memory.json"))
    args = parser.parse_args()
    result = measure(args.meters, args.extra, args.batch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(
        f"[bench] Redis bytes per retained reading: {result['bytes_per_retained_reading']:.0f} "
        f"(goal ≤ {GOAL_PER_READING_B}); per meter: {result['bytes_per_meter']:.0f} "
        f"(goal ≤ {GOAL_PER_METER_B}); keys without TTL: {len(result['keys_without_ttl'])}"
    )
    print(json.dumps(result["memory_usage_sample"]))


if __name__ == "__main__":
    main()
