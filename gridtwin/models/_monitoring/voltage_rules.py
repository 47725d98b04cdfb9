"""The standards' voltage events per reading: EN 50160 bands and IEEE 1159 RMS variations.

Physics, not a learned label (IEEE 1159-2019 Table 2, EN 50160 §4.2.2), all in pu of the
meter's own nominal U_n:

* interruption: every phase < 0.1 pu; **open phase**: some, not all, phases < 0.1 pu (a lost
  phase conductor: that phase is interrupted while the others are supplied);
* sag: a phase in 0.1–0.9 pu; lasting > 1 min it is a sustained **undervoltage**;
* swell: a phase > 1.1 pu; lasting > 1 min it is a sustained **overvoltage**.

The duration is ``undervoltage_duration_s`` / ``overvoltage_duration_s`` from the feature
vector (the run so far plus the reading's own interval: a 15-min average below 0.9 pu is a
sustained undervoltage). Severity follows EN 50160: outside U_n +10 %/−15 % ("always" band),
an interruption or an open phase is CRITICAL; outside ±10 % WARNING.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RULE_COLUMNS: tuple[str, ...] = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "undervoltage_duration_s",
    "overvoltage_duration_s",
)
INTERRUPTION_PU = 0.1
SAG_PU = 0.9
SWELL_PU = 1.1
ALWAYS_LOW_PU = 0.85
SUSTAINED_S = 60.0

#: Event names (index = code); 0 = no event.
EVENTS: tuple[str, ...] = (
    "none",
    "interruption",
    "open_phase",
    "sag",
    "undervoltage",
    "swell",
    "overvoltage",
)


@dataclass
class RuleResult:
    """Per reading: event code (index into :data:`EVENTS`), EN 50160 band flags."""

    event: NDArray[np.int64]
    outside_10pct: NDArray[np.bool_]
    outside_always: NDArray[np.bool_]

    @property
    def detected(self) -> NDArray[np.bool_]:
        return self.event > 0


def voltage_events(x: NDArray[np.float64]) -> RuleResult:
    """(n, len(RULE_COLUMNS)) feature columns → the standards' events per reading."""
    x = np.asarray(x, dtype=float)
    v = x[:, 0:3]
    under_s, over_s = x[:, 3], x[:, 4]
    lost = v < INTERRUPTION_PU
    vmin, vmax = v.min(axis=1), v.max(axis=1)
    low = vmin < SAG_PU
    high = vmax > SWELL_PU
    event = np.select(
        [
            lost.all(axis=1),
            lost.any(axis=1),
            low & (under_s > SUSTAINED_S),
            low,
            high & (over_s > SUSTAINED_S),
            high,
        ],
        [1, 2, 4, 3, 6, 5],
        default=0,
    ).astype(np.int64)
    return RuleResult(
        event=event,
        outside_10pct=low | high,
        outside_always=(vmin < ALWAYS_LOW_PU) | high,
    )
