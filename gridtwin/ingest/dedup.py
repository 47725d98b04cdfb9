"""Bounded de-duplication of readings on (meter_id, timestamp).

Each reading keeps one small Redis string under a key hash-tagged by its meter
(``{prefix}dd:{<meter>}:<seconds>[.<nanos>]``, so on Redis Cluster it lives in the meter's
slot; the key is kept short because its bytes are most of a retained reading's cost): the 16-byte BLAKE2b digest of the reading's canonical (deterministic protobuf)
encoding. Nothing else about the reading is stored, so a retained reading costs one small
key (measured by ``bench/redis_memory.py``), never a feature row.

A claim is written before the feature call as ``b"p" + digest`` with a short TTL
(``DEDUP_PENDING_TTL_S``, seconds). The claim is committed by the features service, inside the
same atomic Redis script that appends the reading to its meter's rolling state
(:class:`gridtwin.features.state.Marks`, see :func:`commit_marks`): the bare digest with the
long TTL (``DEDUP_TTL_S``, the de-duplication window). So a reading that is in the state always
has its committed digest, whatever fails afterwards (a reading answered OK can no longer lose
its digest to a Redis that dies between two round trips). If the call fails, the claims are
released in ``finally``, but only while they still hold the pending claim
(compare-and-delete): a digest that the script did commit (the failure came after it, e.g. a
lost reply) stays, so a retry is a duplicate instead of a second append. A claim that outlives
a crash expires within seconds, so a retry is processed rather than blocked.

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

from gridtwin.core.redis_client import ScriptCall, eval_calls, slot_groups
from gridtwin.features.state import Marks
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


#: Deletes each key only while it still holds the given value (the caller's pending claim).
_RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then n = n + redis.call('DEL', key) end
end
return n
"""


def commit_marks(prefix: str, readings: Sequence[reading_pb2.Reading], ttl_s: int) -> Marks:
    """The committed digests of `readings` (their de-duplication keys and digests), for the
    feature script to write atomically with the readings' state."""
    return Marks(
        keys=[dedup_key(prefix, r) for r in readings],
        values=[reading_digest(r) for r in readings],
        ttl_s=int(ttl_s),
    )


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
        """Turn claims into committed digests with the full window TTL, as a separate step
        (the in-process benchmark; the services commit inside the feature script instead, see
        `commit_marks`)."""
        if not keys:
            return
        pipe = self.client.pipeline(transaction=False)
        for key, digest in zip(keys, digests, strict=True):
            pipe.set(key, digest, ex=self.ttl_s)
        await pipe.execute()

    async def release(self, keys: Sequence[str], digests: Sequence[bytes]) -> int:
        """Drop the claims of readings that were not processed, so a retry is: each key only
        while it still holds this claim (``p`` + its digest), never a committed digest. One
        script call for all keys on a single Redis, one per hash slot on Redis Cluster.
        Returns how many claims were dropped."""
        if not keys:
            return 0
        values = [PENDING_MARK + d for d in digests]
        groups = slot_groups(self.client, keys)
        calls = [ScriptCall([keys[i] for i in g], [values[i] for i in g]) for g in groups]
        return sum(int(n) for n in await eval_calls(self.client, _RELEASE, calls))
