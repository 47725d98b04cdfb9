"""At-least-once consumer of the assessment stream into the repository.

Each history replica is a consumer of the group `history` (name: host-pid). It reads new
entries (XREADGROUP `>`), writes them in one database transaction, and XACKs them only after
the commit. After a database error the entries stay pending and are read again from this
consumer's pending list (XREADGROUP `0`); entries left pending by a consumer that died are
claimed with XAUTOCLAIM once idle for `HISTORY_CLAIM_IDLE_MS`. Writes are idempotent on
(meter_id, timestamp), so a redelivery is harmless. Entries that cannot be decoded are logged,
counted and acknowledged (they would otherwise block the group forever).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from gridtwin.core.config import settings
from gridtwin.history.config import retention_days
from gridtwin.history.repository import Repository
from gridtwin.history.rows import HistoryItem
from gridtwin.history.stream import GROUP, decode, stream_key

log = logging.getLogger(__name__)

REPORT_EVERY_S = 60.0


@dataclass
class ConsumerStats:
    entries: int = 0  # stream entries acknowledged
    new_rows: int = 0  # (meter, time) keys that were new in the database
    bad_entries: int = 0
    db_errors: int = 0
    claimed: int = 0
    last_error: str = ""
    batches: list[tuple[int, float]] = field(default_factory=list)  # (entries, seconds), recent


class StreamConsumer:
    def __init__(
        self, client: aioredis.Redis, prefix: str, repo: Repository, name: str | None = None
    ) -> None:
        self.redis = client
        self.repo = repo
        self.key = stream_key(prefix)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        cfg = settings()
        self.batch = cfg.history_batch
        self.block_ms = cfg.history_block_ms
        self.claim_idle_ms = cfg.history_claim_idle_ms
        self.claim_every_s = max(1.0, self.claim_idle_ms / 2000)
        self.stats = ConsumerStats()
        self.db_ok = False

    async def ensure_group(self) -> None:
        """Create the group at the start of the stream (entries written before the first
        history service started are stored too)."""
        try:
            await self.redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self) -> None:
        await self.ensure_group()
        own_pending = True  # after a start or a failure, first re-read what we hold
        last_claim = 0.0
        last_purge = 0.0
        last_report, reported = time.monotonic(), 0
        while True:
            if time.monotonic() - last_report >= REPORT_EVERY_S and self.stats.entries > reported:
                rate = (self.stats.entries - reported) / (time.monotonic() - last_report)
                log.info(
                    "history consumer",
                    extra={
                        "entries": self.stats.entries,
                        "new_rows": self.stats.new_rows,
                        "entries_per_s": round(rate),
                    },
                )
                last_report, reported = time.monotonic(), self.stats.entries
            try:
                if time.monotonic() - last_claim >= self.claim_every_s:
                    last_claim = time.monotonic()
                    await self._claim_stale()
                if time.monotonic() - last_purge >= 3600:
                    last_purge = time.monotonic()
                    await self._purge()
                stream_from = "0" if own_pending else ">"
                response = await self.redis.xreadgroup(
                    GROUP,
                    self.name,
                    {self.key: stream_from},
                    count=self.batch,
                    block=None if own_pending else self.block_ms,
                )
                entries = response[0][1] if response else []
                if own_pending and not entries:
                    own_pending = False
                    continue
                if entries:
                    own_pending = not await self._process(entries) or own_pending
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # the stream was deleted (e.g. FLUSHDB): start again
                    await self.ensure_group()
                    continue
                log.exception("history consumer: Redis error")
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("history consumer error")
                await asyncio.sleep(1.0)

    async def _claim_stale(self) -> None:
        start = "0-0"
        while True:
            result = await self.redis.xautoclaim(
                self.key, GROUP, self.name, min_idle_time=self.claim_idle_ms, start_id=start, count=self.batch
            )
            start, entries = result[0], result[1]
            live = [(sid, fields) for sid, fields in entries if fields]
            if live:
                self.stats.claimed += len(live)
                log.info("claimed stale entries", extra={"count": len(live)})
                if not await self._process(live):
                    return
            if start in (b"0-0", "0-0"):
                return

    async def _process(self, entries: Sequence[tuple[Any, dict[bytes, bytes]]]) -> bool:
        """Store and acknowledge; False (nothing acknowledged) when the database failed."""
        items: list[HistoryItem] = []
        bad: list[Any] = []
        for sid, fields in entries:
            try:
                items.append(decode(sid, fields))
            except ValueError as exc:
                bad.append(sid)
                log.warning("skipping a bad stream entry", extra={"error": str(exc)})
        started = time.perf_counter()
        try:
            new = await asyncio.to_thread(self.repo.write, items)
        except Exception as exc:
            self.db_ok = False
            self.stats.db_errors += 1
            self.stats.last_error = str(exc)[:500]
            log.exception("history write failed; entries stay pending")
            await asyncio.sleep(1.0)
            return False
        self.db_ok = True
        await self.redis.xack(self.key, GROUP, *[sid for sid, _ in entries])
        elapsed = time.perf_counter() - started
        self.stats.entries += len(entries)
        self.stats.new_rows += new
        self.stats.bad_entries += len(bad)
        self.stats.batches = [*self.stats.batches[-99:], (len(items), elapsed)]
        return True

    async def _purge(self) -> None:
        days = retention_days()
        if days <= 0:
            return
        cutoff = int((time.time() - days * 86_400) * 1e6)
        removed = await asyncio.to_thread(self.repo.purge, cutoff)
        if removed:
            log.info("retention purge", extra={"days": days, "removed": removed})
