"""Serving path: per-meter rolling state in Redis, shared by all feature-service replicas.

Key layout (``prefix`` is configurable, e.g. ``"gridtwin:"``):

* ``{prefix}meter:{meter_id}:window`` — list of the last ``HISTORY_DEPTH`` readings, newest
  first, each an 80-byte packed record (10 little-endian float64 in ``HISTORY_FIELDS`` order).
* ``{prefix}meter:{meter_id}:profile`` — hash: ``nominal_voltage`` (V), ``nominal_frequency``
  (Hz), ``nominal_voltage_inferred`` / ``nominal_frequency_inferred`` ('0'/'1'), ``readings``
  (count of readings ever appended).
* ``{prefix}meter:{meter_id}:tw2`` — the meter's time-window and baseline state (schema 2.0.0,
  :mod:`gridtwin.features.timewindows`): ``STATE_LEN`` packed little-endian float64. Schema 1
  had no such key; a stored state of another layout is ignored (the meter's windows restart),
  the window list and profile keep their schema-1 format and stay valid.

Every key gets a TTL (default 7 days), refreshed on every update, so abandoned meters expire.
One batch = one EVALSHA round trip (see :mod:`gridtwin.features.state_lua`). The script touches
several keys, so on Redis Cluster all meters of a batch must share a hash slot (e.g. a
``{tag}`` in the prefix) or the batch must be split per slot; every key holds one meter only,
so such a split needs no change of layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from numpy.typing import NDArray

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


class FeatureState:
    """Rolling per-meter windows and profiles in Redis; computes features for batches.

    Args:
        client: a ``redis.asyncio.Redis`` client (``decode_responses`` must be False).
        prefix: key prefix, e.g. ``"gridtwin:"``; tests use a unique one.
        ttl_s: key TTL in seconds, refreshed on every update (default 7 days).
    """

    def __init__(self, client: aioredis.Redis, prefix: str = "gridtwin:", ttl_s: int = DEFAULT_TTL_S):
        self.client = client
        self.prefix = prefix
        self.ttl_s = int(ttl_s)
        self._script = client.register_script(LUA_UPDATE)

    def window_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:window``."""
        return f"{self.prefix}meter:{meter_id}:window"

    def profile_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:profile``."""
        return f"{self.prefix}meter:{meter_id}:profile"

    def state_key(self, meter_id: str) -> str:
        """``{prefix}meter:{meter_id}:tw2`` (time-window state, schema 2)."""
        return f"{self.prefix}meter:{meter_id}:tw2"

    async def update(
        self, readings: Sequence[reading_pb2.Reading]
    ) -> tuple[ReadingArrays, HistoryArrays, NDArray[np.float64]]:
        """Atomically append the readings (in order) and return each one's prior window and
        prior time-window state ``(n, STATE_LEN)``.

        One EVALSHA per batch. Readings of one meter are appended in the given order; the
        history of each reading is the meter's window as it was just before that reading.
        """
        n = len(readings)
        if n == 0:
            empty = arrays_from_protos([])
            return empty, HistoryArrays.empty(0), np.empty((0, STATE_LEN))
        draft = arrays_from_protos(readings)  # nominals from the reading or inferred candidates
        ev, ef = explicit_nominals(readings)
        cand_v = infer_nominal_voltage_v(draft.voltage_v.mean(axis=1))
        cand_f = infer_nominal_frequency_hz(draft.frequency_hz)
        recs = history_records(draft)
        blob = recs.astype(RECORD_DTYPE, copy=False).tobytes()

        meter_ids = [r.meter_id for r in readings]
        meters, inv = np.unique(np.asarray(meter_ids, dtype=object), return_inverse=True)
        keys: list[str] = []
        for m in meters:
            keys += [self.window_key(m), self.profile_key(m), self.state_key(m)]
        nominal_args = np.column_stack([ev, ef, cand_v, cand_f]).ravel().tolist()
        argv = [
            self.ttl_s * 1000,
            HISTORY_DEPTH,
            RECORD_BYTES,
            n,
            blob,
            ",".join(map(str, (inv + 1).tolist())),
            ",".join(map(repr, nominal_args)),
            _CONSTANTS,
        ]
        win_blob, counts_csv, nominals_csv, state_blob = await self._script(keys=keys, args=argv)

        nom = np.array(nominals_csv.split(b","), dtype="S").astype(float).reshape(n, 3)
        draft.nominal_voltage_v = nom[:, 0]
        draft.nominal_frequency_hz = nom[:, 1]
        draft.nominal_inferred = nom[:, 2]
        lens = np.array(counts_csv.split(b","), dtype="S").astype(np.intp)
        old = np.frombuffer(win_blob, dtype=RECORD_DTYPE).reshape(-1, N_HISTORY_FIELDS)
        stored = np.frombuffer(state_blob, dtype="<f8").reshape(len(meters), STATE_LEN)
        y_win, vph = window_inputs(draft)
        states = chain_states(
            stored, inv.astype(np.intp), draft.timestamp_s, y_win, vph, draft.nominal_voltage_v
        )
        return draft, self._histories(old, lens, recs, inv), states

    @staticmethod
    def _histories(
        old: NDArray[np.float64],
        lens: NDArray[np.intp],
        recs: NDArray[np.float64],
        inv: NDArray[np.intp],
    ) -> HistoryArrays:
        """Per-reading history from the pre-batch windows + the batch's own earlier readings.

        ``old`` holds each meter's stored window (newest first, ``lens[m]`` records, meters in
        sorted order). Lays out, per meter, the stored window oldest first followed by the
        batch readings of that meter in batch order, then uses the same :func:`build_history`
        as the DataFrame path.
        """
        n = recs.shape[0]
        n_old = old.shape[0]
        seq = np.vstack([old, recs])
        old_meter = np.repeat(np.arange(lens.shape[0]), lens)
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

    async def update_and_compute(self, readings: Sequence[reading_pb2.Reading]) -> np.ndarray:
        """Append the batch to the meters' windows and return its (n, N_FEATURES) features."""
        cur, hist, states = await self.update(readings)
        return compute_features(cur, hist, states)

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
