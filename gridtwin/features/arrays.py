"""Column-oriented containers shared by the training and serving paths.

``ReadingArrays`` holds n current readings; ``HistoryArrays`` holds, for each of those rows,
the previous ≤ ``HISTORY_DEPTH`` readings of the same meter as compact records (newest first,
NaN-padded) and how many are real. Both paths (DataFrame and Redis) build exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from gridtwin.features.schema import HISTORY_DEPTH

#: Fields of one stored history record (float64 each), in order. Stored packed little-endian
#: in Redis (``RECORD_DTYPE``, 80 bytes per reading).
HISTORY_FIELDS: tuple[str, ...] = (
    "timestamp_s",
    "voltage_a_v",
    "voltage_b_v",
    "voltage_c_v",
    "current_a_a",
    "current_b_a",
    "current_c_a",
    "active_power_total_w",
    "reactive_power_total_var",
    "frequency_hz",
)
N_HISTORY_FIELDS = len(HISTORY_FIELDS)
H = {name: i for i, name in enumerate(HISTORY_FIELDS)}
RECORD_DTYPE = np.dtype("<f8")
RECORD_BYTES = N_HISTORY_FIELDS * RECORD_DTYPE.itemsize

F64 = NDArray[np.float64]


@dataclass
class ReadingArrays:
    """n readings, one row each. Units: s, V (phase-to-neutral RMS), A, W, var, Hz, degC.

    Attributes:
        timestamp_s: (n,) Unix time in s (UTC), computed as integer ns / 1e9 in both paths.
        voltage_v, current_a, active_power_w, reactive_power_var: (n, 3) phases a, b, c.
        frequency_hz: (n,).
        nominal_voltage_v, nominal_frequency_hz: (n,) resolved per-meter nominal values.
        nominal_inferred: (n,) 1.0 if either nominal value was inferred, else 0.0.
        ambient_temperature_c: (n,) NaN if not reported.
        thd_voltage_pct: (n, 3) exact THD per phase (waveform / reported harmonics), NaN if none.
    """

    timestamp_s: F64
    voltage_v: F64
    current_a: F64
    active_power_w: F64
    reactive_power_var: F64
    frequency_hz: F64
    nominal_voltage_v: F64
    nominal_frequency_hz: F64
    nominal_inferred: F64
    ambient_temperature_c: F64
    thd_voltage_pct: F64

    def __len__(self) -> int:
        return int(self.timestamp_s.shape[0])

    def take(self, idx: NDArray[np.intp]) -> ReadingArrays:
        """Rows ``idx`` of every array, as a new ``ReadingArrays``."""
        return ReadingArrays(**{k: v[idx] for k, v in self.__dict__.items()})


@dataclass
class HistoryArrays:
    """Previous readings per row.

    Attributes:
        records: (n, HISTORY_DEPTH, N_HISTORY_FIELDS) float64, ``records[i, k]`` is the reading
            k+1 steps before row i (k = 0 the immediately previous one); NaN where absent.
        count: (n,) int64 number of real previous readings (0..HISTORY_DEPTH).
    """

    records: F64
    count: NDArray[np.int64]

    @classmethod
    def empty(cls, n: int) -> HistoryArrays:
        """History of n rows with no previous readings."""
        return cls(np.full((n, HISTORY_DEPTH, N_HISTORY_FIELDS), np.nan), np.zeros(n, dtype=np.int64))

    def field(self, name: str) -> F64:
        """(n, HISTORY_DEPTH) view of one history field."""
        return self.records[:, :, H[name]]


def history_records(cur: ReadingArrays) -> F64:
    """(n, N_HISTORY_FIELDS) records of the given readings, in ``HISTORY_FIELDS`` order."""
    p = cur.active_power_w
    q = cur.reactive_power_var
    return np.column_stack(
        [
            cur.timestamp_s,
            cur.voltage_v,
            cur.current_a,
            p[:, 0] + p[:, 1] + p[:, 2],
            q[:, 0] + q[:, 1] + q[:, 2],
            cur.frequency_hz,
        ]
    ).astype(np.float64, copy=False)


def build_history(
    records: F64, group_start: NDArray[np.intp], rows: NDArray[np.intp] | None = None
) -> HistoryArrays:
    """History windows from a record sequence sorted by (group, time).

    ``records`` is (L, F) ordered so that each meter's readings are contiguous and in order;
    ``group_start[i]`` is the index of the first row of row i's meter. Returns the history of
    ``rows`` (default all rows): up to ``HISTORY_DEPTH`` preceding rows of the same meter,
    newest first. Fully vectorised (fancy indexing, no Python loop over rows).
    """
    if rows is None:
        rows = np.arange(records.shape[0])
    rows = np.asarray(rows, dtype=np.intp)
    lag = np.arange(1, HISTORY_DEPTH + 1)
    idx = rows[:, None] - lag[None, :]
    valid = idx >= group_start[rows][:, None]
    out = records[np.where(valid, idx, 0)]
    out[~valid] = np.nan
    return HistoryArrays(out, valid.sum(axis=1).astype(np.int64))
