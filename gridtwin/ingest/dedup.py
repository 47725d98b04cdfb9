"""Bounded de-duplication of readings on (meter_id, timestamp).

Each reading keeps one small Redis string under a key hash-tagged by its meter
(``{prefix}dd:{<meter>}:<seconds>[.<nanos>]``, so on Redis Cluster it lives in the meter's
slot; the key is kept short because its bytes are most of a retained reading's cost): the 16-byte BLAKE2b digest of the reading's canonical (deterministic protobuf)
encoding. Nothing else about the reading is stored, so a retained reading costs one small
key (measured by ``bench/redis_memory.py``), never a feature row.

The key's value walks three states:

  * ``b"p" + digest`` – *claimed*: written by ingest before the feature call, with a short
    TTL (``DEDUP_PENDING_TTL_S``, seconds), so a claim that outlives a crash expires within
    seconds and a retry is processed rather than blocked.
  * ``b"a" + digest`` – *applied*: written by the features service inside the same atomic
    Redis script that appends the reading to its meter's rolling state
    (:class:`gridtwin.features.state.Marks`, see :func:`commit_marks`), with the long TTL
    (``DEDUP_TTL_S``, the de-duplication window). The same script stores the reading's feature
    *inputs* (its prior window, prior time-window state and nominals) under
    ``{prefix}di:{<meter>}:<instant>``, so its feature row can be computed again exactly.
  * ``digest`` – *assessed*: ingest turns ``a`` into the bare digest (compare-and-set, keeping
    the TTL, and deletes the inputs) once it holds the reading's feature row, just before it
    answers OK and the gateway hands the row to the models (:meth:`Deduplicator.finish`).

Why three: the feature script can run and its answer still be lost (features killed after it,
a dropped connection, a deadline at ingest). The reading is then in the rolling state but no
model has seen it; its claim is not released (the state must not take it twice), so a retry
would read as a duplicate and the reading would be missing from every output. A retry that
finds ``a`` instead recomputes the row from the stored inputs, without touching the state, and
is assessed like a fresh reading. Whoever turns ``a`` into the bare digest first (the original
call or a retry racing it) hands the reading to the models; the other is answered as a
duplicate, so a model's ``prepare`` never sees one reading twice. What remains: ingest answers
OK after ``finish`` and that answer is lost on its way to the gateway (ingest killed in the
microseconds between); a retry is then a duplicate.

If the call fails before the script ran, the claims are released in ``finally``, but only
while they still hold the pending claim (compare-and-delete): an applied reading keeps its
``a`` mark and inputs for the retry.

What a second copy of a reading gets (``Outcome``):
  * ``FRESH``     – it won the claim: process it.
  * ``APPLIED``   – the reading is in the state but was never assessed: recompute its row
    from the stored inputs and assess it (DATA_LOSS if the inputs are gone).
  * ``DUPLICATE`` – an assessed reading with identical values: answered as a duplicate
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
APPLIED_MARK = b"a"
DEFAULT_TTL_S = 86_400
DEFAULT_PENDING_TTL_S = 10


class Outcome(enum.Enum):
    FRESH = "fresh"
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"
    IN_FLIGHT = "in_flight"


def _reading_key(prefix: str, family: str, reading: reading_pb2.Reading) -> str:
    ts = reading.timestamp
    instant = f"{ts.seconds}.{ts.nanos:09d}" if ts.nanos else str(ts.seconds)
    return f"{prefix}{family}:{{{reading.meter_id}}}:{instant}"


def dedup_key(prefix: str, reading: reading_pb2.Reading) -> str:
    """The de-duplication key of a reading, hash-tagged by meter for Redis Cluster."""
    return _reading_key(prefix, "dd", reading)


def inputs_key(prefix: str, reading: reading_pb2.Reading) -> str:
    """Where the feature script stores the reading's feature inputs (same slot as its digest)."""
    return _reading_key(prefix, "di", reading)


def reading_digest(reading: reading_pb2.Reading) -> bytes:
    """16-byte BLAKE2b digest of the reading's deterministic protobuf encoding: equal for
    identical values, different (with overwhelming probability) for any changed field."""
    payload = reading.SerializeToString(deterministic=True)
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()


def classify(digest: bytes, previous: bytes | None) -> Outcome:
    """What a claim attempt means, from the value the key held before (`SET NX GET`)."""
    if previous is None:
        return Outcome.FRESH
    marked = len(previous) == DIGEST_BYTES + 1 and previous[:1] in (PENDING_MARK, APPLIED_MARK)
    stored = previous[1:] if marked else previous
    if stored != digest:
        return Outcome.CONFLICT
    if not marked:
        return Outcome.DUPLICATE
    return Outcome.IN_FLIGHT if previous[:1] == PENDING_MARK else Outcome.APPLIED


#: Deletes each key only while it still holds the given value (the caller's pending claim).
_RELEASE = """
local n = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then n = n + redis.call('DEL', key) end
end
return n
"""

#: KEYS = n de-duplication keys then their n inputs keys, ARGV = the n applied marks: each key
#: still applied becomes its bare digest (same TTL) and its inputs go; replies 1 per key that
#: this call turned, 0 where another call had already done it (or the key is gone).
_FINISH = """
local n = #ARGV
local out = {}
for i = 1, n do
  local key = KEYS[i]
  if redis.call('GET', key) == ARGV[i] then
    redis.call('SET', key, string.sub(ARGV[i], 2), 'KEEPTTL')
    out[i] = 1
  else
    out[i] = 0
  end
  redis.call('DEL', KEYS[n + i])
end
return out
"""


def commit_marks(
    prefix: str, readings: Sequence[reading_pb2.Reading], ttl_s: int, inputs_ttl_s: int | None = None
) -> Marks:
    """The applied marks of `readings` (their de-duplication keys, ``a`` + digest) and their
    inputs keys, for the feature script to write atomically with the readings' state. The
    inputs live as long as the marks unless `inputs_ttl_s` says otherwise."""
    return Marks(
        keys=[dedup_key(prefix, r) for r in readings],
        values=[APPLIED_MARK + reading_digest(r) for r in readings],
        ttl_s=int(ttl_s),
        inputs_keys=[inputs_key(prefix, r) for r in readings],
        inputs_ttl_s=int(ttl_s if inputs_ttl_s is None else inputs_ttl_s),
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

    async def inputs(self, readings: Sequence[reading_pb2.Reading]) -> list[bytes | None]:
        """The stored feature inputs of applied readings (None where they are gone)."""
        if not readings:
            return []
        pipe = self.client.pipeline(transaction=False)
        for r in readings:
            pipe.get(inputs_key(self.prefix, r))
        return list(await pipe.execute())

    async def finish(self, readings: Sequence[reading_pb2.Reading], digests: Sequence[bytes]) -> list[bool]:
        """Mark applied readings as assessed (``a`` + digest → digest, TTL kept) and drop their
        inputs; True for each reading this call turned (it may hand the reading to the models),
        False where another call already had (answer it as a duplicate). One script call per
        hash slot (one on a single Redis)."""
        if not readings:
            return []
        keys = [dedup_key(self.prefix, r) for r in readings]
        stores = [inputs_key(self.prefix, r) for r in readings]
        marks = [APPLIED_MARK + d for d in digests]
        groups = slot_groups(self.client, keys)
        calls = [
            ScriptCall([keys[i] for i in g] + [stores[i] for i in g], [marks[i] for i in g]) for g in groups
        ]
        turned = [False] * len(keys)
        for g, reply in zip(groups, await eval_calls(self.client, _FINISH, calls), strict=True):
            for i, flag in zip(g, reply, strict=True):
                turned[i] = bool(int(flag))
        return turned

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
