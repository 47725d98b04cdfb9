"""Shrinkage of the frequency LSTM's correction over persistence, per reading interval.

Served: f_pred = f_0 + α(Δt)·Δ_LSTM, with f_0 this reading's frequency (Hz), Δ_LSTM the
network's 5-s-ahead change (Hz) and Δt the real time between the two newest readings (s).
α ∈ [0, 1] is chosen per trained reading cadence on the training generator's validation block
(training/models/_monitoring/frequency_shrinkage.py): the network learnt its trend extrapolation
on a simulator whose frequency carries the swing equation's momentum (Kundur, Power System
Stability and Control, §11.1: inertia, governor droop, AGC); where the grid's frequency is pulled
back towards f_n by primary control with little momentum a full-size correction overshoots, and
α = 0 is persistence. Between trained cadences α is interpolated on log Δt, beyond them held.

The registry artifact ``params`` (``frequency_params.json``) holds ``{"cadences_s": [...],
"alphas": [...]}``; a registry without it (older entries) serves α = 1, the unshrunk network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

PARAMS_ARTIFACT = "params"
PARAMS_FILE = "frequency_params.json"


@dataclass(frozen=True)
class Shrinkage:
    """α per reading cadence (s), cadences ascending; ``unshrunk()`` is α = 1 everywhere."""

    cadences_s: tuple[float, ...]
    alphas: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.cadences_s) != len(self.alphas) or not self.cadences_s:
            raise ValueError("shrinkage: one α per cadence, at least one")
        if any(c <= 0 for c in self.cadences_s) or list(self.cadences_s) != sorted(self.cadences_s):
            raise ValueError(f"shrinkage: cadences must be positive and ascending, got {self.cadences_s}")
        if not all(0.0 <= a <= 1.0 for a in self.alphas):
            raise ValueError(f"shrinkage: every α must lie in [0, 1], got {self.alphas}")

    @classmethod
    def unshrunk(cls) -> Shrinkage:
        """α = 1: the network's full correction (registries trained before the shrinkage)."""
        return cls((1.0,), (1.0,))

    @classmethod
    def load(cls, path: Path | None) -> Shrinkage:
        """From a ``frequency_params.json``; ``None`` (no such artifact) gives ``unshrunk()``."""
        if path is None:
            return cls.unshrunk()
        raw = json.loads(Path(path).read_text())
        return cls(tuple(float(c) for c in raw["cadences_s"]), tuple(float(a) for a in raw["alphas"]))

    def to_json(self) -> str:
        return json.dumps({"cadences_s": list(self.cadences_s), "alphas": list(self.alphas)}, indent=1)

    def alpha(self, interval_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """α for readings Δt seconds apart: interpolated on log Δt between the trained cadences,
        held at the end values beyond them (a non-finite or non-positive Δt gets the shortest's)."""
        dt = np.asarray(interval_s, dtype=float)
        ok = np.isfinite(dt) & (dt > 0)
        log_dt = np.log(np.where(ok, dt, self.cadences_s[0]))
        return np.interp(log_dt, np.log(np.asarray(self.cadences_s)), np.asarray(self.alphas))
