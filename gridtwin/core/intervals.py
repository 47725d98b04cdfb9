"""Which fixed-length interval (15-min demand interval, ...) a reading belongs to.

Convention (docs/forecasting.md, `Reading.timestamp` in protos/gridtwin/v1/reading.proto): a
reading's timestamp is the END of the span it measures. AMI load profiles stamp an interval
average at the end of its aggregation interval (IEC 61000-4-30 §4.5: aggregation intervals end
on the UTC clock tick and the value carries that time; DLMS/COSEM load profiles, IEC 62056-6-2
"profile generic", capture a period's value when the period ends), and a snapshot's span is ~0,
so its timestamp is its instant.
Interval k (of length L) is therefore the half-open span (k·L, (k+1)·L]: a reading stamped exactly
at 10:15:00 belongs to 10:00–10:15, one at 10:15:00.5 to 10:15–10:30.

Integer arithmetic on nanoseconds: a float of Unix seconds has a resolution of ~0.2 µs today,
so `ceil(t / L)` on floats would put a reading a few nanoseconds after a boundary into the
interval before it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

NS_PER_S = 1_000_000_000


def _step_ns(step_s: int) -> int:
    if step_s <= 0 or int(step_s) != step_s:
        raise ValueError(f"interval length must be a positive whole number of seconds, got {step_s}")
    return int(step_s) * NS_PER_S


def interval_of(seconds: int, nanos: int, step_s: int) -> int:
    """Index k of the interval (k·step_s, (k+1)·step_s] holding a reading stamped `seconds` +
    `nanos` (a protobuf Timestamp's fields): ceil(t / step) − 1."""
    return (int(seconds) * NS_PER_S + int(nanos) - 1) // _step_ns(step_s)


def last_complete(seconds: int, nanos: int, step_s: int) -> int:
    """Index of the last interval that has ended by the reading's time (its end ≤ t):
    floor(t / step) − 1. Equal to `interval_of` for a reading stamped on a boundary (the
    reading closes its interval), one less for any other (its interval is still in progress)."""
    return (int(seconds) * NS_PER_S + int(nanos)) // _step_ns(step_s) - 1


def intervals_of_ns(t_ns: NDArray[np.int64], step_s: int) -> NDArray[np.int64]:
    """`interval_of` for an array of Unix times in integer nanoseconds."""
    return (np.asarray(t_ns, dtype=np.int64) - 1) // _step_ns(step_s)


def last_complete_ns(t_ns: NDArray[np.int64], step_s: int) -> NDArray[np.int64]:
    """`last_complete` for an array of Unix times in integer nanoseconds."""
    return np.asarray(t_ns, dtype=np.int64) // _step_ns(step_s) - 1
