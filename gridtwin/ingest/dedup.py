"""Bounded de-duplication of readings on (meter_id, timestamp).

Each reading keeps one small Redis string under a key hash-tagged by its meter
(``{prefix}dd:{<meter>}:<seconds>[.<nanos>]``, so on Redis Cluster it lives in the meter's
slot; the key is kept short because its bytes are most of a retained reading's cost): the 16-byte BLAKE2b digest of the reading's canonical (deterministic protobuf)
encoding. Nothing else about the reading is stored, so a retained reading costs one small
key (measured by ``bench/redis_memory.py``), never a feature row.

A claim is written before the feature call as ``b"p" + digest`` with a short TTL
(``DEDUP_PENDING_TTL_S``, seconds): if the process dies or the call fails, the claim is
released (``finally``) or expires within seconds, so a retry is processed rather than
blocked. Once the reading's features are computed, the claim is committed: the bare digest
with the long TTL (``DEDUP_TTL_S``, the de-duplication window).

What a second copy of a reading gets (``Outcome``):
  * ``FRESH``     – it won the claim: process it.
  * ``DUPLICATE`` – a committed reading with identical values: answered as a duplicate
    without touching any per-meter state (no features, no model `prepare`).
  * ``CONFLICT``  – a reading with the same meter and time but different values:
    ALREADY_EXISTS (the first one wins; a correction needs a new timestamp).
  * ``IN_FLIGHT`` – an identical copy is being processed right now: ABORTED, retry shortly.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from typing import Any

from gridtwin.v1 import reading_pb2

DIGEST_BYTES = 16
PENDING_MARK = b"p"
DEFAULT_TTL_S = 86_400
DEFAULT_PENDING_TTL_S = 10


class Outcome(enum.Enum):
    FRESH = "fresh"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    IN_FLIGHT = "in_flight"


def dedup_key(prefix: str, reading: reading_pb2.Reading) -> str:
    """The de-duplication key of a reading, hash-tagged by meter for Redis Cluster."""
    ts = reading.timestamp
    instant = f"{ts.seconds}.{ts.nanos:09d}" if ts.nanos else str(ts.seconds)
    return f"{prefix}dd:{{{reading.meter_id}}}:{instant}"


def reading_digest(reading: reading_pb2.Reading) -> bytes:
    """16-byte BLAKE2b digest of the reading's deterministic protobuf encoding: equal for
    identical values, different (with overwhelming probability) for any changed field."""
    payload = reading.SerializeToString(deterministic=True)
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()


def classify(digest: bytes, previous: bytes | None) -> Outcome:
    """What a claim attempt means, from the value the key held before (`SET NX GET`)."""
    if previous is None:
        return Outcome.FRESH
    pending = previous.startswith(PENDING_MARK) and len(previous) == DIGEST_BYTES + 1
    stored = previous[1:] if pending else previous
    if stored != digest:
        return Outcome.CONFLICT
    return Outcome.IN_FLIGHT if pending else Outcome.DUPLICATE


class Deduplicator:
    """Claims, commits and releases de-duplication keys in caller-supplied pipelines."""

    def __init__(
        self,
        client: Any,
        prefix: str,
        ttl_s: int = DEFAULT_TTL_S,
        pending_ttl_s: int = DEFAULT_PENDING_TTL_S,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = int(ttl_s)
        self.pending_ttl_s = int(pending_ttl_s)

    def key(self, reading: reading_pb2.Reading) -> str:
        return dedup_key(self.prefix, reading)

    def queue_claims(self, pipe: Any, keys: Sequence[str], digests: Sequence[bytes]) -> None:
        """Add one `SET key p<digest> NX GET EX pending_ttl` per reading to `pipe`; parse
        the replies with `classify`."""
        for key, digest in zip(keys, digests, strict=True):
            pipe.set(key, PENDING_MARK + digest, nx=True, get=True, ex=self.pending_ttl_s)

    async def commit(self, keys: Sequence[str], digests: Sequence[bytes]) -> None:
        """Turn claims into committed digests with the full window TTL."""
        if not keys:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, digest in zip(keys, digests, strict=True):
            pipe.set(key, digest, ex=self.ttl_s)
        await pipe.execute()

    async def release(self, keys: Sequence[str]) -> None:
        """Drop claims of readings that were not processed, so a retry is."""
        if keys:
            await self.client.delete(*keys)
