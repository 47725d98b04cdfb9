"""Serving path: per-meter rolling state in Redis, shared by all feature-service replicas.

Key layout (``prefix`` is configurable, e.g. ``"gridtwin:"``; ``{m}`` is the meter id as a
Redis Cluster hash tag, :func:`gridtwin.core.redis_client.meter_tag`):

* ``{prefix}meter:{m}:window`` — list of the last ``HISTORY_DEPTH`` readings, newest first,
  each an 80-byte packed record (10 little-endian float64 in ``HISTORY_FIELDS`` order).
* ``{prefix}meter:{m}:profile`` — hash: ``nominal_voltage`` (V), ``nominal_frequency`` (Hz),
  ``nominal_voltage_inferred`` / ``nominal_frequency_inferred`` ('0'/'1'), ``readings``
  (count of readings ever appended).
* ``{prefix}meter:{m}:tw2`` — the meter's time-window and baseline state (layout 2, schemas 2.0.0 and 3.0.0,
  :mod:`gridtwin.features.timewindows`): ``STATE_LEN`` packed little-endian float64. A stored
  state of another layout is ignored (the meter's windows restart).

Every key of a meter hashes to that meter's slot, so on Redis Cluster a batch is split per
hash slot: one script call per slot, all of them in one pipeline (one round trip per node, the
nodes concurrently); on a single Redis the whole batch stays one call. The prefix must not
contain braces, or its tag would put every key in one slot.

**Migration (key layout 3).** Until this layout the keys were ``{prefix}meter:<id>:window`` /
``:profile`` / ``:tw2`` without the hash tag. Those keys are not read any more: a meter's window,
time windows and stored profile restart as if it were new (its nominals are inferred or taken
from its next readings again), and the old keys expire by their own TTL (7 days). Nothing
fails on them; delete ``{prefix}meter:*`` keys without braces to free the memory sooner.

Every key gets a TTL (default 7 days), refreshed on every update, so abandoned meters expire.
The same atomic script optionally writes one *mark* per reading (``Marks``: ingest's
de-duplication digest under the reading's ``dd:{m}:…`` key), so a reading in the rolling
state always has its digest committed (see :mod:`gridtwin.ingest.dedup`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gridtwin.core.redis_client import ScriptCall, eval_calls, meter_tag, slot_groups
from gridtwin.features.arrays import (
    N_HISTORY_FIELDS,
    RECORD_BYTES,
    RECORD_DTYPE,
    HistoryArrays,
    ReadingArrays,
    build_history,
    history_records,
)
from gridtwin.features.core import compute_features, window_inputs
from gridtwin.features.nominal import infer_nominal_frequency_hz, infer_nominal_voltage_v
from gridtwin.features.protos import arrays_from_protos, explicit_nominals
from gridtwin.features.schema import HISTORY_DEPTH
from gridtwin.features.state_lua import LUA_UPDATE
from gridtwin.features.timewindows import (
    BASELINE_BAND_PU,
    BASELINE_TAU_S,
    OVER_PU,
    RECENT_TAU_S,
    RESET_WEIGHT,
    STATE_LAYOUT,
    STATE_LEN,
    TIME_WINDOWS,
    UNDER_PU,
    chain_states,
)
from gridtwin.v1 import reading_pb2

DEFAULT_TTL_S = 7 * 24 * 3600
#: Constants of the time-window recurrence, passed to the Lua script (one definition).
_CONSTANTS = ",".join(
    map(
        repr,
        [
            float(STATE_LEN),
            STATE_LAYOUT,
            float(len(TIME_WINDOWS)),
            *(tau for _, tau in TIME_WINDOWS),
            RESET_WEIGHT,
            BASELINE_TAU_S,
            *BASELINE_BAND_PU,
            UNDER_PU,
            OVER_PU,
            RECENT_TAU_S,
        ],
    )
)


@dataclass(frozen=True)
class MeterNominal:
    """A meter's stored profile: nominal V (phase-to-neutral) and f, and whether inferred."""

    nominal_voltage_v: float
    nominal_frequency_hz: float
    voltage_inferred: bool
    frequency_inferred: bool
    readings: int


@dataclass(frozen=True)
class Marks:
    """One key per reading, set to a value inside the same atomic update as the reading's
    state (ingest's de-duplication digest): each key must hash to its reading's meter slot
    (tag ``{meter}``), and every value has the same length.

    With `inputs_keys` (one per reading, same slot rule) each reading's feature inputs are
    stored there too, for `inputs_ttl_s`: what :meth:`FeatureState.recompute` needs to compute
    its feature row again if the answer of this update is lost."""

    keys: Sequence[str]
    values: Sequence[bytes]
    ttl_s: int
    inputs_keys: Sequence[str] = ()
    inputs_ttl_s: int = 0


def profile_key(prefix: str, meter_id: str) -> str:
    """``{prefix}meter:{meter_id}:profile`` with the meter as hash tag."""
    return f"{prefix}meter:{meter_tag(meter_id)}:profile"


@dataclass
class _Prior:
    """What the script returned for a whole batch, reassembled from its per-slot calls:
    each meter's stored window (``old`` rows of meters in ``meter_order``, ``lens`` each), its
    stored time-window state (by meter index) and each reading's resolved nominals."""

    old: NDArray[np.float64]
    lens: NDArray[np.intp]
    meter_order: NDArray[np.intp]
    states: NDArray[np.float64]
    nominals: NDArray[np.float64]


class FeatureState:
    """Rolling per-meter windows and profiles in Redis; computes features for batches.

    Args:
        client: a ``redis.asyncio.Redis`` or ``RedisCluster`` client (``decode_responses``
            must be False).
        prefix: key prefix, e.g. ``"gridtwin:"``; tests use a unique one. No braces.
        ttl_s: key TTL in seconds, refreshed on every update (default 7 days).
    """

    def __init__(self, client: Any, prefix: str = "gridtwin:", ttl_s: int = DEFAULT_TTL_S):
        if "{" in prefix or "}" in prefix:
            raise ValueError(f"the Redis key prefix {prefix!r} must not contain braces (hash tags)")
        self.client = client
        self.prefix = prefix
        self.ttl_s = int(ttl_s)

    def window_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:window`` (the meter as hash tag)."""
        return f"{self.prefix}meter:{meter_tag(meter_id)}:window"

    def profile_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:profile`` (the meter as hash tag)."""
        return profile_key(self.prefix, meter_id)

    def state_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:tw2`` (time-window state, schema 2; meter as hash tag)."""
        return f"{self.prefix}meter:{meter_tag(meter_id)}:tw2"

    async def update(
        self, readings: Sequence[reading_pb2.Reading], marks: Marks | None = None
    ) -> tuple[ReadingArrays, HistoryArrays, NDArray[np.float64]]:
        """Atomically (per meter) append the readings in order and return each one's prior
        window and prior time-window state ``(n, STATE_LEN)``; with `marks`, set each
        reading's mark key in the same atomic step.

        One EVALSHA per batch on a single Redis, one per hash slot on Redis Cluster (each meter
        is updated by exactly one of them, so the result is the same). Readings of one meter are
        appended in the given order; the history of each reading is the meter's window as it
        was just before that reading.
        """
        n = len(readings)
        if n == 0:
            empty = arrays_from_protos([])
            return empty, HistoryArrays.empty(0), np.empty((0, STATE_LEN))
        if marks is not None and (len(marks.keys) != n or len(marks.inputs_keys) not in (0, n)):
            raise ValueError(
                f"{len(marks.keys)} marks and {len(marks.inputs_keys)} inputs keys for {n} readings"
            )
        draft = arrays_from_protos(readings)  # nominals from the reading or inferred candidates
        ev, ef = explicit_nominals(readings)
        cand_v = infer_nominal_voltage_v(draft.voltage_v.mean(axis=1))
        cand_f = infer_nominal_frequency_hz(draft.frequency_hz)
        recs = history_records(draft)
        nominal_args = np.column_stack([ev, ef, cand_v, cand_f])
        meters, inv = np.unique(np.asarray([r.meter_id for r in readings], dtype=object), return_inverse=True)
        inv = inv.astype(np.intp)
        prior = await self._run(list(meters), inv, recs, nominal_args, marks)

        draft.nominal_voltage_v = prior.nominals[:, 0]
        draft.nominal_frequency_hz = prior.nominals[:, 1]
        draft.nominal_inferred = prior.nominals[:, 2]
        y_win, vph = window_inputs(draft)
        states = chain_states(prior.states, inv, draft.timestamp_s, y_win, vph, draft.nominal_voltage_v)
        history = self._histories(prior.old, prior.lens, prior.meter_order, recs, inv)
        return draft, history, states

    async def _run(
        self,
        meters: list[str],
        inv: NDArray[np.intp],
        recs: NDArray[np.float64],
        nominal_args: NDArray[np.float64],
        marks: Marks | None,
    ) -> _Prior:
        """The script once per group of meters (all of them on a single Redis, one hash slot
        each on Redis Cluster), the groups' replies put back in batch terms."""
        groups = slot_groups(self.client, [self.window_key(m) for m in meters])
        members = self._members(groups, inv)
        calls = [
            self._call(meters, g, inv[idx], idx, recs, nominal_args, marks)
            for g, idx in zip(groups, members, strict=True)
        ]
        replies = await eval_calls(self.client, LUA_UPDATE, calls)
        n = len(inv)
        nominals = np.empty((n, 3))
        states = np.empty((len(meters), STATE_LEN))
        olds, lens = [], []
        for g, idx, (win_blob, counts_csv, nominals_csv, state_blob) in zip(
            groups, members, replies, strict=True
        ):
            nominals[idx] = np.array(nominals_csv.split(b","), dtype="S").astype(float).reshape(len(idx), 3)
            states[g] = np.frombuffer(state_blob, dtype="<f8").reshape(len(g), STATE_LEN)
            olds.append(np.frombuffer(win_blob, dtype=RECORD_DTYPE).reshape(-1, N_HISTORY_FIELDS))
            lens.append(np.array(counts_csv.split(b","), dtype="S").astype(np.intp))
        order = np.concatenate([np.asarray(g, dtype=np.intp) for g in groups])
        return _Prior(np.vstack(olds), np.concatenate(lens), order, states, nominals)

    @staticmethod
    def _members(groups: list[list[int]], inv: NDArray[np.intp]) -> list[NDArray[np.intp]]:
        """The readings (batch order) of each group of meters."""
        if len(groups) == 1:
            return [np.arange(len(inv))]
        group_of = np.empty(sum(len(g) for g in groups), dtype=np.intp)
        for k, g in enumerate(groups):
            group_of[g] = k
        of_reading = group_of[inv]
        order = np.argsort(of_reading, kind="stable")
        return np.split(order, np.cumsum(np.bincount(of_reading, minlength=len(groups)))[:-1])

    def _call(
        self,
        meters: list[str],
        group: list[int],
        local_inv: NDArray[np.intp],
        idx: NDArray[np.intp],
        recs: NDArray[np.float64],
        nominal_args: NDArray[np.float64],
        marks: Marks | None,
    ) -> ScriptCall:
        """The script's keys and args for the meters `group` (global indices, sorted) and
        their readings `idx` (batch order); `local_inv` = each such reading's global meter."""
        position = np.empty(len(meters), dtype=np.intp)
        position[np.asarray(group, dtype=np.intp)] = np.arange(len(group))
        keys: list[str] = []
        for m in group:
            meter = meters[m]
            keys += [self.window_key(meter), self.profile_key(meter), self.state_key(meter)]
        mark_ttl_ms, mark_size, mark_blob, inputs_ttl_ms = 0, 0, b"", 0
        if marks is not None:
            keys += [marks.keys[i] for i in idx]
            values = [marks.values[i] for i in idx]
            mark_ttl_ms, mark_size, mark_blob = int(marks.ttl_s) * 1000, len(values[0]), b"".join(values)
            if any(len(v) != mark_size for v in values):
                raise ValueError("every mark value must have the same length")
            if marks.inputs_keys:
                keys += [marks.inputs_keys[i] for i in idx]
                inputs_ttl_ms = int(marks.inputs_ttl_s) * 1000
        args = [
            self.ttl_s * 1000,
            HISTORY_DEPTH,
            RECORD_BYTES,
            len(idx),
            recs[idx].astype(RECORD_DTYPE, copy=False).tobytes(),
            ",".join(map(str, (position[local_inv] + 1).tolist())),
            ",".join(map(repr, nominal_args[idx].ravel().tolist())),
            _CONSTANTS,
            len(group),
            mark_ttl_ms,
            mark_size,
            mark_blob,
            inputs_ttl_ms,
        ]
        return ScriptCall(keys, args)

    @staticmethod
    def _histories(
        old: NDArray[np.float64],
        lens: NDArray[np.intp],
        meter_order: NDArray[np.intp],
        recs: NDArray[np.float64],
        inv: NDArray[np.intp],
    ) -> HistoryArrays:
        """Per-reading history from the pre-batch windows + the batch's own earlier readings.

        ``old`` holds each meter's stored window (newest first, ``lens[k]`` records of meter
        ``meter_order[k]``, one contiguous block per meter). Lays out, per meter, the stored window oldest first followed by the
        batch readings of that meter in batch order, then uses the same :func:`build_history`
        as the DataFrame path.
        """
        n = recs.shape[0]
        n_old = old.shape[0]
        seq = np.vstack([old, recs])
        old_meter = np.repeat(meter_order, lens)
        starts = np.cumsum(lens) - lens
        # position in the meter's sequence: stored records get -1 (newest) .. -len (oldest)
        old_pos = -(np.arange(n_old) - np.repeat(starts, lens)) - 1
        meter = np.concatenate([old_meter, inv])
        pos = np.concatenate([old_pos, np.arange(n)])
        order = np.lexsort((pos, meter))
        m_sorted = meter[order]
        first = np.r_[True, m_sorted[1:] != m_sorted[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
        where = np.empty(len(order), dtype=np.intp)
        where[order] = np.arange(len(order))
        return build_history(seq[order], group_start, where[n_old:])

    async def update_and_compute(
        self, readings: Sequence[reading_pb2.Reading], marks: Marks | None = None
    ) -> np.ndarray:
        """Append the batch to the meters' windows (with `marks`, see `update`) and return its
        (n, N_FEATURES) features."""
        cur, hist, states = await self.update(readings, marks)
        return compute_features(cur, hist, states)

    def recompute(self, readings: Sequence[reading_pb2.Reading], inputs: Sequence[bytes]) -> np.ndarray:
        """The (n, N_FEATURES) feature rows the readings got when they were appended, from the
        inputs the update stored for each of them (``Marks.inputs_keys``): the same nominals,
        prior state and prior window, so the same row (no Redis call, nothing appended)."""
        if len(inputs) != len(readings):
            raise ValueError(f"{len(inputs)} inputs for {len(readings)} readings")
        draft = arrays_from_protos(readings)
        recs = history_records(draft)
        n = len(readings)
        head = 3 + STATE_LEN
        nominals, states, windows = np.empty((n, 3)), np.empty((n, STATE_LEN)), []
        for i, blob in enumerate(inputs):
            values = np.frombuffer(blob, dtype="<f8")
            if (len(values) - head) % N_HISTORY_FIELDS or len(values) < head:
                raise ValueError(f"stored inputs of reading {i} have {len(values)} values")
            nominals[i], states[i] = values[:3], values[3:head]
            windows.append(values[head:].reshape(-1, N_HISTORY_FIELDS))
        draft.nominal_voltage_v = nominals[:, 0].copy()
        draft.nominal_frequency_hz = nominals[:, 1].copy()
        draft.nominal_inferred = nominals[:, 2].copy()
        each = np.arange(n, dtype=np.intp)  # every reading its own group: its inputs are complete
        old = np.vstack(windows) if windows else np.empty((0, N_HISTORY_FIELDS))
        lens = np.array([len(w) for w in windows], dtype=np.intp)
        history = self._histories(old, lens, each, recs, each)
        return compute_features(draft, history, states)

    async def nominal_for(self, meter_ids: Sequence[str]) -> dict[str, MeterNominal | None]:
        """Stored profile per meter (None if the meter has no stored nominal)."""
        pipe = self.client.pipeline(transaction=False)
        self.queue_profile_reads(pipe, meter_ids)
        return self.parse_profiles(meter_ids, await pipe.execute())

    def queue_profile_reads(self, pipe: Any, meter_ids: Sequence[str]) -> None:
        """Add the profile reads of `meter_ids` to a caller's pipeline (one round trip with
        the caller's own commands); parse the first len(meter_ids) replies with
        `parse_profiles`."""
        for m in meter_ids:
            pipe.hgetall(self.profile_key(m))

    def parse_profiles(self, meter_ids: Sequence[str], res: Sequence[Any]) -> dict[str, MeterNominal | None]:
        out: dict[str, MeterNominal | None] = {}
        for m, h in zip(meter_ids, res, strict=True):
            h = {(k.decode() if isinstance(k, bytes) else k): v for k, v in h.items()}
            if "nominal_voltage" not in h or "nominal_frequency" not in h:
                out[m] = None
                continue
            out[m] = MeterNominal(
                nominal_voltage_v=float(h["nominal_voltage"]),
                nominal_frequency_hz=float(h["nominal_frequency"]),
                voltage_inferred=h.get("nominal_voltage_inferred") in (b"1", "1"),
                frequency_inferred=h.get("nominal_frequency_inferred") in (b"1", "1"),
                readings=int(h.get("readings", 0)),
            )
        return out

    async def set_profile(self, meter_id: str, nominal_voltage_v: float, nominal_frequency_hz: float) -> None:
        """Store a meter's nominal values explicitly (e.g. from an asset register)."""
        key = self.profile_key(meter_id)
        await self.client.hset(
            key,
            mapping={
                "nominal_voltage": repr(float(nominal_voltage_v)),
                "nominal_frequency": repr(float(nominal_frequency_hz)),
                "nominal_voltage_inferred": "0",
                "nominal_frequency_inferred": "0",
            },
        )
        await self.client.pexpire(key, self.ttl_s * 1000)

    async def window(self, meter_id: str) -> NDArray[np.float64]:
        """The meter's stored window as (k, N_HISTORY_FIELDS) records, newest first."""
        raw = await self.client.lrange(self.window_key(meter_id), 0, HISTORY_DEPTH - 1)
        return np.frombuffer(b"".join(raw), dtype=RECORD_DTYPE).reshape(-1, N_HISTORY_FIELDS)
