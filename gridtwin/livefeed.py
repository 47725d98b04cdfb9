"""Streams the simulator's live feeder into the gateway (AssessStream) and prints a summary."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import grpc
import numpy as np

from gridtwin.records import reading_from_record
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc

SUMMARY_EVERY_S = 5.0


def load_simulated_assets() -> None:
    """Put the simulated feeder's asset register (ratings, transformer age) into Redis, as a
    utility's asset management would for its own meters."""
    import redis

    from gridsim.assets import simulated_assets
    from gridtwin.assets import write_assets
    from gridtwin.core.config import settings

    cfg = settings()
    count = write_assets(redis.Redis.from_url(cfg.redis_url), cfg.redis_prefix, simulated_assets())
    print(f"[gridtwin] asset register of the simulated feeder loaded ({count} meters)", flush=True)


async def stream_feeder(
    address: str,
    scenario: str,
    meters: int,
    speed: float,
    seed: int = 1,
    credentials: grpc.ChannelCredentials | None = None,
    metadata: list[tuple[str, str]] | None = None,
) -> None:
    """Stream the simulated feeder; accelerated feeds replay the recent past so that no
    timestamp runs ahead of the wall clock (ingest rejects readings from the future).
    `credentials` (TLS) and `metadata` (the bearer token) are used when given."""
    import pandas as pd

    from gridsim.live import iter_live_readings

    load_simulated_assets()
    now = pd.Timestamp.now(tz="UTC").floor("min")
    start = now - pd.Timedelta(days=7) if speed > 1 else now

    channel_cm = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with channel_cm as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        sent: dict[tuple[str, int], float] = {}

        iterator = iter_live_readings(scenario=scenario, meters=meters, seed=seed, speed=speed, start=start)

        async def readings():  # type: ignore[no-untyped-def]
            while True:
                record = await asyncio.to_thread(next, iterator, None)
                if record is None:
                    return
                reading = reading_from_record(record)
                sent[(reading.meter_id, reading.timestamp.seconds)] = time.perf_counter()
                yield reading

        latencies: list[float] = []
        alarms: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        count, last = 0, time.monotonic()
        print(
            f"[gridtwin] live feed: scenario={scenario} meters={meters} speed={speed:g}x -> {address}",
            flush=True,
        )
        while True:
            try:
                async for assessment in stub.AssessStream(readings(), metadata=metadata or None):
                    count += 1
                    started = sent.pop((assessment.meter_id, assessment.timestamp.seconds), None)
                    if started is not None:
                        latencies.append((time.perf_counter() - started) * 1e3)
                    if assessment.status.code != 0:
                        reason = assessment.status.message.partition(": ")[2] or "error"
                        rejected[reason.split(":")[0]] += 1
                        continue
                    for name in MODEL_MODULE:
                        info = getattr(assessment, name).info
                        statuses[assessment_pb2.ModelStatus.Name(info.status)] += 1
                        if info.severity >= assessment_pb2.WARNING:
                            alarms[name] += 1
                    if time.monotonic() - last >= SUMMARY_EVERY_S:
                        p50 = float(np.percentile(latencies, 50)) if latencies else float("nan")
                        fields = " ".join(f"{k}={v}" for k, v in sorted(statuses.items()))
                        top = ", ".join(f"{k}:{v}" for k, v in alarms.most_common(4)) or "none"
                        print(
                            f"[gridtwin] {count} readings assessed | p50 {p50:.1f} ms | model fields "
                            f"{fields} | warnings+ {top}"
                            + (f" | rejected {dict(rejected)}" if rejected else ""),
                            flush=True,
                        )
                        last = time.monotonic()
                        latencies.clear()
                return
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                # Gateway restarting or connection closed: resume with the next readings.
                print(f"[gridtwin] live feed: {exc.details()}; reconnecting", flush=True)
                await asyncio.sleep(1.0)
