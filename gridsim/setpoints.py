"""Feeder voltage set-points and on-load tap positions.

The LV busbar's no-load voltage is the MV voltage times the transformer ratio at the present
tap. Utilities set it anywhere from the bottom to the top of the permitted band depending on
the feeder (long rural feeders high, PV-heavy feeders low); here each scenario block gets a
set-point drawn uniformly in ``SETPOINT_RANGE_PU`` and on-load tap operations (IEC 60076-1
tap steps of 1.25 %) move it without leaving that range. Every change of position, including
the change between blocks, is a recorded tap step (a ``step`` anomaly at the meters).
"""

from __future__ import annotations

import numpy as np

SETPOINT_RANGE_PU = (0.95, 1.06)
TAP_STEP_PU = 0.0125


def draw_setpoints(
    n_blocks: int, rng: np.random.Generator, range_pu: tuple[float, float] = SETPOINT_RANGE_PU
) -> np.ndarray:
    """One no-load busbar set-point (pu of Un) per block, uniform in ``range_pu``."""
    lo, hi = range_pu
    if not lo <= hi:
        raise ValueError(f"range_pu: low {lo} above high {hi}")
    return rng.uniform(lo, hi, n_blocks)


def tap_positions(
    setpoints: np.ndarray,
    block: np.ndarray,
    operations: list[tuple[int, int, int]],
    range_pu: tuple[float, float] = SETPOINT_RANGE_PU,
    step_pu: float = TAP_STEP_PU,
) -> tuple[np.ndarray, list[tuple[int, float]]]:
    """Tap position (pu) at every step and the list of steps (step index, Δpu).

    Args:
        setpoints: (n_blocks,) set-point of each block; ``block`` maps steps to blocks.
        operations: (start step, duration in steps, sign ±1) of temporary tap operations;
            an operation that would leave ``range_pu`` goes the other way, and one that
            cannot stay inside either way is skipped.
    """
    lo, hi = range_pu
    pos = np.asarray(setpoints, float)[block].copy()
    t = len(pos)
    edges = np.flatnonzero(np.diff(block)) + 1
    steps = [(int(k), float(pos[k] - pos[k - 1])) for k in edges if pos[k] != pos[k - 1]]
    for k, dur, sign in operations:
        k1 = min(t, k + dur)
        window = pos[k:k1]
        for d in (sign * step_pu, -sign * step_pu):
            if lo - 1e-12 <= window.min() + d and window.max() + d <= hi + 1e-12:
                pos[k:k1] += d
                steps.append((int(k), float(d)))
                if k1 < t:
                    steps.append((int(k1), float(-d)))
                break
    return pos, sorted(steps)
