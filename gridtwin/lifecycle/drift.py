"""Drift of a model's inputs and outputs: PSI and KS of a sliding window against a reference.

The reference of a version (written at registration by `training.lifecycle.reference`) holds,
per monitored input, the bin edges (the reference's 0.1 %, 1 %, 99 % and 99.9 % quantiles: its
central 98 % and its tails) and the share of reference rows per bin. Online, each module
counts its rows per bin (`counts`); the counts go to Redis per time bucket of the readings'
own timestamps (`gridtwin.lifecycle.window`) so every replica adds to the same window; the
window's PSI and KS per column are computed here.

PSI (population stability index) = Σ (a − e)·ln(a/e) over bins, with a the window's and e the
reference's share (both floored at `EPS` = 0.1 %, so an empty bin does not make it infinite). KS is the
largest gap between the two cumulative shares over the bin edges (the Kolmogorov–Smirnov
statistic of the binned distributions: a lower bound of the exact one). A model drifts when
any column's PSI exceeds the threshold (`GRIDTWIN_DRIFT_PSI`, 0.2) on a window of at least
`GRIDTWIN_DRIFT_MIN_READINGS` readings; the columns over it are the ones that drive it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

EPS = 1e-3


@dataclass(frozen=True)
class Reference:
    """Bin edges and reference shares per monitored column of one model version."""

    version: str
    columns: tuple[str, ...]
    edges: tuple[np.ndarray, ...]  # interior edges per column (len = bins - 1)
    shares: tuple[np.ndarray, ...]  # reference share per bin (sums to 1)
    rows: int = 0

    @classmethod
    def load(cls, path: Path) -> Reference:
        raw = json.loads(path.read_text())
        cols = raw["columns"]
        return cls(
            version=str(raw["version"]),
            columns=tuple(c["name"] for c in cols),
            edges=tuple(np.asarray(c["edges"], dtype=np.float64) for c in cols),
            shares=tuple(np.asarray(c["shares"], dtype=np.float64) for c in cols),
            rows=int(raw.get("rows", 0)),
        )

    def counts(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows per bin of each column present in `values` (NaN rows are not counted)."""
        out = {}
        for name, edges, shares in zip(self.columns, self.edges, self.shares, strict=True):
            column = values.get(name)
            if column is None:
                continue
            column = np.asarray(column, dtype=np.float64)
            column = column[np.isfinite(column)]
            bins = np.searchsorted(edges, column, side="right")
            out[name] = np.bincount(bins, minlength=len(shares)).astype(np.int64)
        return out


def psi(window: np.ndarray, reference_shares: np.ndarray) -> float:
    """Population stability index of window counts against reference shares."""
    total = window.sum()
    if total <= 0:
        return 0.0
    a = np.maximum(window / total, EPS)
    e = np.maximum(reference_shares, EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(window: np.ndarray, reference_shares: np.ndarray) -> float:
    """Largest gap of the cumulative shares (binned Kolmogorov–Smirnov statistic)."""
    total = window.sum()
    if total <= 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(window / total) - np.cumsum(reference_shares))))


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    psi: float
    ks: float


@dataclass(frozen=True)
class DriftStatus:
    """A window's verdict: drifting or not, why, and on how many readings."""

    version: str
    readings: int
    drifting: bool
    threshold: float
    columns: tuple[ColumnDrift, ...] = field(default_factory=tuple)
    detail: str = ""

    @property
    def drivers(self) -> list[str]:
        """The columns over the threshold, worst first."""
        over = [c for c in self.columns if c.psi > self.threshold]
        return [c.name for c in sorted(over, key=lambda c: -c.psi)]

    @property
    def max_psi(self) -> float:
        return max((c.psi for c in self.columns), default=0.0)


def assess(
    reference: Reference,
    window: Mapping[str, np.ndarray],
    readings: int,
    threshold: float,
    min_readings: int,
) -> DriftStatus:
    """PSI and KS per column of the window's counts; drifting when a PSI is over `threshold`."""
    columns = []
    for name, shares in zip(reference.columns, reference.shares, strict=True):
        counts = window.get(name)
        if counts is None or counts.sum() == 0:
            continue
        columns.append(ColumnDrift(name, psi(counts, shares), ks(counts, shares)))
    if readings < min_readings:
        detail = f"{readings} readings in the window, {min_readings} needed for a verdict"
        return DriftStatus(reference.version, readings, False, threshold, tuple(columns), detail)
    drifting = any(c.psi > threshold for c in columns)
    status = DriftStatus(reference.version, readings, drifting, threshold, tuple(columns))
    detail = f"PSI over {threshold:g}: {', '.join(status.drivers)}" if drifting else "no drift"
    return DriftStatus(reference.version, readings, drifting, threshold, tuple(columns), detail)


def merge(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Sum per-bucket counts into one window."""
    out: dict[str, np.ndarray] = {}
    for part in parts:
        for name, counts in part.items():
            out[name] = out[name] + counts if name in out else counts.copy()
    return out
