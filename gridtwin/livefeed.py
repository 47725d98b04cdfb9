"""Streams the simulator's live feeder into the gateway and prints a summary.

A warm first run: before going live the feed replays `GRIDTWIN_WARM_DAYS` (default 8) days of
simulated history at full speed through AssessBatch, so the models that need history (load
forecasts: 25 h for the one-day model, 8 days for the ensemble; demand-response segments: a
night) answer OK from the first live reading. The summary counts answers that do not apply to
the meter (a feeder-level model on a customer meter, `gridtwin.answers`) apart from real
degradation.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import warnings
from collections import Counter
from collections.abc import Iterator

import grpc
import numpy as np

from gridtwin.answers import answer_class
from gridtwin.core.config import env_float, env_int
from gridtwin.records import reading_from_record
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc, reading_pb2

SUMMARY_EVERY_S = 5.0
# The simulator's timestamps carry sub-microsecond float noise that datetime cannot hold;
# dropping it is intended, the warning would only clutter `make run`'s console.
warnings.filterwarnings("ignore", message="Discarding nonzero nanoseconds", category=UserWarning)
#: Shown in this order; anything else (UNSPECIFIED) after.
STATUS_ORDER = ("OK", "DEGRADED", "NOT_APPLICABLE", "UNAVAILABLE", "FAILED")


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


class Tally:
    """Counts of model answers (by `answer_class`), alarms and rejections."""

    def __init__(self) -> None:
        self.statuses: Counter[str] = Counter()
        self.alarms: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.count = 0

    def add(self, assessment: assessment_pb2.Assessment) -> None:
        self.count += 1
        if assessment.status.code != 0:
            reason = assessment.status.message.partition(": ")[2] or "error"
            self.rejected[reason.split(":")[0]] += 1
            return
        for name in MODEL_MODULE:
            info = getattr(assessment, name).info
            self.statuses[answer_class(info)] += 1
            if info.severity >= assessment_pb2.WARNING:
                self.alarms[name] += 1

    def fields(self) -> str:
        known = [s for s in STATUS_ORDER if self.statuses.get(s)]
        rest = sorted(s for s in self.statuses if s not in STATUS_ORDER)
        total = sum(self.statuses.values()) or 1
        return " ".join(
            f"{'N/A' if s == 'NOT_APPLICABLE' else s}={self.statuses[s]} ({100 * self.statuses[s] / total:.0f}%)"
            for s in [*known, *rest]
        )

    def top_alarms(self) -> str:
        return ", ".join(f"{k}:{v}" for k, v in self.alarms.most_common(4)) or "none"


def _take_until(iterator: Iterator[dict], until: object, limit: int) -> tuple[list[dict], bool]:
    """Up to `limit` records with timestamp < `until`; and whether `until` was reached."""
    out: list[dict] = []
    for record in itertools.islice(iterator, limit):
        if record["timestamp"] >= until:
            return out, True
        out.append(record)
    return out, False


async def warm_up(
    stub: gateway_pb2_grpc.GridTwinStub,
    iterator: Iterator[dict],
    until: object,
    days: float,
    metadata: list[tuple[str, str]] | None = None,
) -> None:
    """Replay the simulated history before `until` through AssessBatch (simulation of the next
    batch overlaps the assessment of this one).

    Batches are sent one after the other (each meter's readings must reach the feature state in
    time order). Their size adapts: a batch whose modules missed their deadline
    (`MODULE_DEADLINE_S`, e.g. on a busy machine) halves the next one, a clean one grows it
    back towards `GRIDTWIN_WARM_BATCH`.
    """
    largest = env_int("GRIDTWIN_WARM_BATCH", 384)
    batch_size = largest
    tally, started, last = Tally(), time.monotonic(), time.monotonic()
    pending = asyncio.create_task(asyncio.to_thread(_take_until, iterator, until, batch_size))
    print(f"[gridtwin] warm-up: replaying {days:g} days of simulated history through AssessBatch", flush=True)
    while True:
        records, reached = await pending
        if not reached and records:
            pending = asyncio.create_task(asyncio.to_thread(_take_until, iterator, until, batch_size))
        if records:
            batch = reading_pb2.ReadingBatch(readings=[reading_from_record(r) for r in records])
            answer = await stub.AssessBatch(batch, timeout=120, metadata=metadata or None)
            for assessment in answer.assessments:
                tally.add(assessment)
            late = any(m.status != assessment_pb2.OK for a in answer.assessments[:1] for m in a.modules)
            batch_size = max(24, batch_size // 2) if late else min(largest, batch_size + batch_size // 4)
        if time.monotonic() - last >= SUMMARY_EVERY_S or reached or not records:
            elapsed = time.monotonic() - started
            at = records[-1]["timestamp"] if records else until
            print(
                f"[gridtwin] warm-up: {tally.count} readings up to {at:%Y-%m-%d %H:%M} "
                f"({tally.count / max(elapsed, 1e-9):.0f}/s) | model fields {tally.fields()}",
                flush=True,
            )
            last = time.monotonic()
        if reached or not records:
            print(f"[gridtwin] warm-up done in {time.monotonic() - started:.0f} s; going live", flush=True)
            return


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
    live_start = now - pd.Timedelta(days=7) if speed > 1 else now
    warm_days = env_float("GRIDTWIN_WARM_DAYS", 8.0)
    start = live_start - pd.Timedelta(days=warm_days)

    channel_cm = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    async with channel_cm as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        sent: dict[tuple[str, int], float] = {}

        if warm_days > 0:
            # The replay is simulated at its own step: 5 min by default, so that 8 days take about
            # 35 s on an idle 2-core machine (the meters' own 60 s cadence about 3 minutes, more on
            # a busy one); coarser steps are proportionally faster. Same seed as the live feed: the seed picks the
            # feeder's customer meters, which must be the same ones.
            warm_step = env_int("GRIDTWIN_WARM_STEP_S", 300)
            history = iter_live_readings(
                scenario=scenario, meters=meters, seed=seed, speed=0, step_s=warm_step, start=start
            )
            await warm_up(stub, history, live_start.to_pydatetime(), warm_days, metadata)
        iterator = iter_live_readings(
            scenario=scenario, meters=meters, seed=seed, speed=speed, start=live_start
        )

        async def readings():  # type: ignore[no-untyped-def]
            while True:
                record = await asyncio.to_thread(next, iterator, None)
                if record is None:
                    return
                reading = reading_from_record(record)
                sent[(reading.meter_id, reading.timestamp.seconds)] = time.perf_counter()
                yield reading

        latencies: list[float] = []
        tally = Tally()
        last = time.monotonic()
        print(
            f"[gridtwin] live feed: scenario={scenario} meters={meters} speed={speed:g}x -> {address} "
            "(N/A = the model does not apply to this meter, e.g. feeder-level models on customer meters)",
            flush=True,
        )
        while True:
            try:
                async for assessment in stub.AssessStream(readings(), metadata=metadata or None):
                    started = sent.pop((assessment.meter_id, assessment.timestamp.seconds), None)
                    if started is not None:
                        latencies.append((time.perf_counter() - started) * 1e3)
                    tally.add(assessment)
                    if time.monotonic() - last >= SUMMARY_EVERY_S:
                        p50 = float(np.percentile(latencies, 50)) if latencies else float("nan")
                        print(
                            f"[gridtwin] {tally.count} readings assessed | p50 {p50:.1f} ms | model fields "
                            f"{tally.fields()} | warnings+ {tally.top_alarms()}"
                            + (f" | rejected {dict(tally.rejected)}" if tally.rejected else ""),
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
