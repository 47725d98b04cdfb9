"""A load series normalised by its scale, with the calendar known past its end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Track:
    """A series normalised by `scale`, with the calendar known `extra` steps past its end."""

    z: np.ndarray
    slot: np.ndarray  # slot of the day of every step (0 .. day-1)
    dow: np.ndarray  # day of week (Monday = 0)
    abs0: int  # absolute step number of z[0] (UTC epoch / step), for Prophet's trend
    scale: float  # the series' unit (W, kW, MW …) per z unit
    name: str = ""
    holiday: np.ndarray | None = None  # 1 on public holidays (local calendar), known ahead
    doy: np.ndarray | None = None  # day of the year (local, fractional) of every step, known ahead

    def __len__(self) -> int:
        return len(self.z)


def robust_scale(values: np.ndarray) -> float:
    """Mean absolute value of the finite values (1 when there are none or all are ~0)."""
    s = float(np.mean(np.abs(values[np.isfinite(values)]))) if np.isfinite(values).any() else 0.0
    return s if s > 1e-9 else 1.0
