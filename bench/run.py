"""Benchmark of the mesh on this machine: latency, throughput, the in-process limit, memory.

Starts every service (real processes, real Redis, the model registry at $GRIDTWIN_REGISTRY
or ./registry) and measures:
- `Assess` latency p50/p95/p99 with one sequential client;
- `AssessBatch` and `AssessStream` throughput in readings/s;
- the same pipeline's throughput in one process (bench.inprocess), the limit;
- each service's resident memory after the run.
Writes var/bench/latest.json (bench/results/ with --publish) and prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path

import grpc
import numpy as np
import psutil
from threadpoolctl import threadpool_limits

from gridtwin.core.config import reset_settings
from gridtwin.mesh import ROOT, Mesh, delete_redis_prefix
from gridtwin.registry import list_entries, registry_dir
from gridtwin.v1 import gateway_pb2_grpc, reading_pb2

TARGETS = {
    # Issue 8's goals on a 2-core machine with the full models.
    "p50_ms": 8.0,
    "p99_ms": 20.0,
    "batch_readings_per_s": 5000.0,
    "mesh_vs_inprocess": 0.5,
    "module_rss_mb": 300.0,
}


def reading(meter: str, t: float, rng: np.random.Generator) -> reading_pb2.Reading:
    v = 230.0 * (1 + rng.normal(0, 0.01, 3))
    i = 20.0 * (1 + rng.normal(0, 0.05, 3))
    pf = 0.95
    r = reading_pb2.Reading(
        meter_id=meter, frequency=50.0 + rng.normal(0, 0.02), nominal_voltage=230.0, nominal_frequency=50.0
    )
    r.timestamp.seconds, r.timestamp.nanos = int(t), int((t % 1) * 1e9)
    for k, phase in enumerate("abc"):
        setattr(r.voltage, phase, v[k])
        setattr(r.current, phase, i[k])
        setattr(r.active_power, phase, v[k] * i[k] * pf)
        setattr(r.reactive_power, phase, v[k] * i[k] * (1 - pf * pf) ** 0.5)
    return r


def readings(n: int, meters: int, t0: float, seed: int) -> list[reading_pb2.Reading]:
    rng = np.random.default_rng(seed)
    return [reading(f"bench-{k % meters}", t0 + k // meters, rng) for k in range(n)]


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1e3
    return {f"p{q}_ms": float(np.percentile(ms, q)) for q in (50, 95, 99)} | {"mean_ms": float(ms.mean())}


async def latency(stub: gateway_pb2_grpc.GridTwinStub, n: int) -> dict[str, float]:
    data = readings(n + 50, 20, time.time() - 10 * n, seed=1)
    for r in data[:50]:
        await stub.Assess(r, timeout=10)
    samples = []
    for r in data[50:]:
        started = time.perf_counter()
        await stub.Assess(r, timeout=10)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def batch_throughput(stub: gateway_pb2_grpc.GridTwinStub, n: int, size: int, concurrency: int) -> float:
    """Readings/s with `concurrency` callers each sending batches back to back (a single
    sequential caller leaves the pipeline's other stages idle while one works)."""
    data = readings(n, 200, time.time() - 3 * 86400, seed=2)
    await stub.AssessBatch(reading_pb2.ReadingBatch(readings=data[:size]), timeout=60)
    chunks = [data[k : k + size] for k in range(size, n, size)]
    done = 0

    async def caller(mine: list[list[reading_pb2.Reading]]) -> None:
        nonlocal done
        for chunk in mine:
            result = await stub.AssessBatch(reading_pb2.ReadingBatch(readings=chunk), timeout=60)
            done += sum(1 for a in result.assessments if a.status.code == 0)

    started = time.perf_counter()
    await asyncio.gather(*(caller(chunks[i::concurrency]) for i in range(concurrency)))
    return done / (time.perf_counter() - started)


async def stream_throughput(stub: gateway_pb2_grpc.GridTwinStub, n: int, concurrency: int) -> float:
    """Readings/s over `concurrency` simultaneous AssessStream calls."""
    data = readings(n, 200, time.time() - 6 * 86400, seed=3)
    count = 0

    async def one(mine: list[reading_pb2.Reading]) -> None:
        nonlocal count

        async def source():  # type: ignore[no-untyped-def]
            for r in mine:
                yield r

        async for assessment in stub.AssessStream(source(), timeout=300):
            count += assessment.status.code == 0

    started = time.perf_counter()
    await asyncio.gather(*(one(data[i::concurrency]) for i in range(concurrency)))
    return count / (time.perf_counter() - started)


async def inprocess_throughput(n: int, size: int) -> float:
    from bench.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    data = readings(n, 200, time.time() - 9 * 86400, seed=4)
    await pipeline.assess(data[:size])
    started = time.perf_counter()
    for k in range(size, n, size):
        await pipeline.assess(data[k : k + size])
    rate = (n - size) / (time.perf_counter() - started)
    await pipeline.close()
    return rate


async def model_compute(n: int = 300) -> dict[str, float]:
    """Time of the sixteen served models for one reading (prepare + predict, all modules),
    in one process: the compute the mesh adds around them is measured by the other figures."""
    from bench.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    data = readings(n + 50, 1, time.time() - 12 * 86400, seed=5)
    per_module: dict[str, list[float]] = {m: [] for m in pipeline.modules}
    totals = []
    for k, reading in enumerate(data):
        timings = await pipeline.time_models([reading])
        if k >= 50:
            totals.append(sum(timings.values()))
            for module, seconds in timings.items():
                per_module[module].append(seconds)
    await pipeline.close()
    out = {"p50_ms": statistics.median(totals) * 1e3, "p99_ms": float(np.percentile(totals, 99)) * 1e3}
    out |= {f"{m}_p50_ms": statistics.median(v) * 1e3 for m, v in per_module.items()}
    return out


async def measure(mesh: Mesh, args: argparse.Namespace) -> dict[str, object]:
    async with grpc.aio.insecure_channel(mesh.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        print("[bench] Assess latency, sequential client …", flush=True)
        lat = await latency(stub, args.requests)
        print(f"[bench]   {lat}", flush=True)
        print("[bench] AssessBatch throughput …", flush=True)
        batch = await batch_throughput(stub, args.readings, args.batch, args.concurrency)
        print(f"[bench]   {batch:.0f} readings/s", flush=True)
        print("[bench] AssessStream throughput …", flush=True)
        stream = await stream_throughput(stub, args.readings, args.streams)
        print(f"[bench]   {stream:.0f} readings/s", flush=True)
    rss = {s: psutil.Process(pid).memory_info().rss / 2**20 for s, pid in mesh.pids().items()}
    os.environ["GRIDTWIN_REDIS_PREFIX"] = mesh.redis_prefix + "inproc:"
    reset_settings()  # settings are read once per process
    # One BLAS/OpenMP thread, as each service runs (gridtwin.mesh): the same conditions.
    with threadpool_limits(limits=1):
        print("[bench] same pipeline in one process …", flush=True)
        inproc = await inprocess_throughput(args.readings, args.batch)
        print(f"[bench]   {inproc:.0f} readings/s", flush=True)
        print("[bench] sixteen models' compute for one reading …", flush=True)
        compute = await model_compute()
    print(f"[bench]   {compute}", flush=True)
    return {
        "assess_latency": lat,
        "batch_readings_per_s": batch,
        "stream_readings_per_s": stream,
        "inprocess_readings_per_s": inproc,
        "model_compute_per_reading": compute,
        "mesh_vs_inprocess": max(batch, stream) / inproc,
        "rss_mb": rss,
    }


def summary(result: dict) -> str:
    lat = result["assess_latency"]
    rss = result["rss_mb"]
    module_rss = max(rss[m] for m in ("monitoring", "maintenance", "energy", "decision"))
    rows = [
        (
            "Assess p50 (sequential)",
            f"{lat['p50_ms']:.1f} ms",
            f"≤ {TARGETS['p50_ms']:g} ms",
            lat["p50_ms"] <= TARGETS["p50_ms"],
        ),
        ("Assess p95", f"{lat['p95_ms']:.1f} ms", "", None),
        (
            "Assess p99",
            f"{lat['p99_ms']:.1f} ms",
            f"≤ {TARGETS['p99_ms']:g} ms",
            lat["p99_ms"] <= TARGETS["p99_ms"],
        ),
        (
            f"AssessBatch ({result['args']['batch']}/batch, {result['args']['concurrency']} callers)",
            f"{result['batch_readings_per_s']:.0f} readings/s",
            "≥ 5,000",
            result["batch_readings_per_s"] >= 5000,
        ),
        (
            f"AssessStream ({result['args']['streams']} streams)",
            f"{result['stream_readings_per_s']:.0f} readings/s",
            "≥ 5,000",
            result["stream_readings_per_s"] >= 5000,
        ),
        (
            "same pipeline in one process",
            f"{result['inprocess_readings_per_s']:.0f} readings/s",
            "(the limit)",
            None,
        ),
        (
            "mesh / in-process",
            f"{result['mesh_vs_inprocess']:.2f}",
            "≥ 0.5",
            result["mesh_vs_inprocess"] >= 0.5,
        ),
        (
            "16 models' compute, one reading",
            f"{result['model_compute_per_reading']['p50_ms']:.2f} ms",
            "≤ 5 ms",
            result["model_compute_per_reading"]["p50_ms"] <= 5.0,
        ),
        ("largest module RSS", f"{module_rss:.0f} MB", "≤ 300 MB", module_rss <= 300),
    ]
    lines = ["| measure | result | target | met |", "|---|---|---|---|"]
    lines += [
        f"| {a} | {b} | {c} | {'' if d is None else ('yes' if d else '**no**')} |" for a, b, c, d in rows
    ]
    lines.append("")
    lines.append("Resident memory per service (MB): " + ", ".join(f"{k} {v:.0f}" for k, v in rss.items()))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--readings", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent AssessBatch callers")
    parser.add_argument("--streams", type=int, default=2, help="concurrent AssessStream calls")
    parser.add_argument("--out", help="result file (default var/bench/latest.json)")
    parser.add_argument("--publish", action="store_true", help="write bench/results/latest.json (committed)")
    args = parser.parse_args()
    if args.out is None:
        folder = ROOT / "bench" / "results" if args.publish else ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        args.out = str(folder / "latest.json")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    registered = sum(e is not None for e in list_entries().values())
    print(f"[bench] starting the mesh ({registered}/16 models registered in {registry_dir()})", flush=True)
    mesh = Mesh(redis_url=redis_url, redis_prefix=prefix, registry=registry_dir().resolve())
    mesh.start()
    try:
        mesh.wait_healthy(timeout=180)
        result = asyncio.run(measure(mesh, args))
    finally:
        mesh.stop()
        delete_redis_prefix(redis_url, prefix)
    result["machine"] = {
        "cpus": psutil.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    result["models_registered"] = registered
    result["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["args"] = vars(args)
    Path(args.out).write_text(json.dumps(result, indent=2))
    table = summary(result)
    Path(args.out).with_suffix(".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
