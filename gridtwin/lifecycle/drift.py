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
`GRIDTWIN_DRIFT_MIN_READINGS` readings that spans the whole window length
(`GRIDTWIN_DRIFT_WINDOW_S`); the columns over it are the ones that drive it.

Why the span: the reference holds whole days of the training feeder, so its shares mix every
hour of the daily load cycle. A window of part of a day is a sample of some hours' conditions
(the evening peak's low voltages, the night's high ones), not of the reference's population,
and PSI flags that difference although nothing changed: measured, 22 % of hourly windows of
the unchanged feed were flagged (and 4-15 % per input of the training data's own hourly
windows). Judged only over windows of a whole day (the default), like is compared with like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

EPS = 1e-3
# Draws of the null distribution of PSI per (reference shares, meters): enough for its
# 1 − 0.01/16 quantile to rest on ~125 draws above it.
NULL_DRAWS = 200_000


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

    @cached_property
    def _edge_matrix(self) -> np.ndarray:
        """(columns, most edges) interior edges, padded with +inf (a bin no value reaches)."""
        width = max((len(e) for e in self.edges), default=0)
        out = np.full((len(self.edges), width), np.inf)
        for k, edges in enumerate(self.edges):
            out[k, : len(edges)] = edges
        return out

    def counts(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows per bin of each column present in `values` (NaN rows are not counted).

        All columns at once: every model call of every module bins its batch, and a loop of
        one `searchsorted` per column cost 7-9 ms of the sixteen models' 24 ms per reading
        (measured with bench.run's model compute)."""
        idx = [k for k, name in enumerate(self.columns) if name in values]
        if not idx:
            return {}
        cols = np.column_stack([np.asarray(values[self.columns[k]], dtype=np.float64) for k in idx])
        tally = self.tally(cols, np.asarray(idx))
        return {self.columns[k]: tally[j, : len(self.shares[k])] for j, k in enumerate(idx)}

    def tally(self, values: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """(len(idx), most bins) rows per bin of `values` (rows x len(idx)), whose column j
        holds the reference's column idx[j]; bins beyond a column's own are zero. The matrix
        form of `counts`, for callers that already hold the values as one matrix (the
        serving path: no per-column arrays or dicts per model call)."""
        edges = self._edge_matrix[idx]
        # side="right" bin of a value = the number of edges at or below it
        bins = (values[:, :, None] >= edges[None, :, :]).sum(axis=2)
        width = edges.shape[1] + 1
        flat = bins + (np.arange(len(idx)) * width)[None, :]
        return np.bincount(flat[np.isfinite(values)], minlength=len(idx) * width).reshape(len(idx), width)


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


@lru_cache(maxsize=4096)
def _null_quantile(shares: tuple[float, ...], units: int, q: float) -> float:
    rng = np.random.default_rng(0)  # fixed: the same window gets the same verdict everywhere
    p = np.asarray(shares) / sum(shares)
    counts = rng.multinomial(units, p, size=NULL_DRAWS)
    a = np.maximum(counts / units, EPS)
    e = np.maximum(p, EPS)
    return float(np.quantile(((a - e) * np.log(a / e)).sum(axis=1), q))


def null_threshold(reference_shares: np.ndarray, units: int, false_rate: float) -> float:
    """The PSI an unchanged window of `units` meters exceeds with probability `false_rate`.

    A window's readings are not independent draws: one meter's readings over a day share its
    place on the feeder (its voltage level), so a window of 12 meters holds about 12 draws of
    that level, not 12 × 1440. Taken at its most clustered — each meter one draw from the
    reference's bins — a single meter of 12 in a 1 % tail bin already puts 8 % of the window
    there (PSI ≈ 0.17, or ≈ 0.36 in a 0.1 % bin). The quantile is drawn by simulation
    (multinomial draws of `units` meters from the reference shares)."""
    if units <= 0:
        return float("inf")
    shares = tuple(float(x) for x in reference_shares)
    return _null_quantile(shares, int(units), 1.0 - false_rate)


@dataclass(frozen=True)
class ColumnDrift:
    name: str
    psi: float
    ks: float
    threshold: float = 0.0  # the PSI this column must exceed on this window


@dataclass(frozen=True)
class DriftStatus:
    """A window's verdict: drifting or not, why, and on how many readings."""

    version: str
    readings: int
    drifting: bool
    threshold: float
    columns: tuple[ColumnDrift, ...] = field(default_factory=tuple)
    detail: str = ""
    meters: int = 0  # distinct meters in the window (0: not counted)

    @property
    def drivers(self) -> list[str]:
        """The columns over their threshold, worst first (by how far over)."""
        over = [c for c in self.columns if c.psi > max(c.threshold, self.threshold)]
        return [c.name for c in sorted(over, key=lambda c: -c.psi / max(c.threshold, self.threshold))]

    @property
    def max_psi(self) -> float:
        return max((c.psi for c in self.columns), default=0.0)


@dataclass(frozen=True)
class WindowShape:
    """What the verdict needs besides the counts: how big the window is and the rules."""

    readings: int
    threshold: float  # PSI floor (GRIDTWIN_DRIFT_PSI)
    min_readings: int
    span_s: int | None = None  # seconds the window's buckets span (None: not checked)
    window_s: int = 0  # the window length a verdict needs
    meters: int = 0  # distinct meters in the window (0: no sample-size-aware threshold)
    false_rate: float = 0.01  # per model and window (GRIDTWIN_DRIFT_FALSE_RATE)


def column_threshold(shares: np.ndarray, shape: WindowShape, n_columns: int) -> float:
    """`shape.threshold`, raised to the PSI an unchanged window of `shape.meters` meters
    exceeds with probability `false_rate / n_columns` (Bonferroni: the model drifts when any
    of its columns does, so each column gets its share of the false-drift budget)."""
    if shape.meters <= 0:
        return shape.threshold
    return max(shape.threshold, null_threshold(shares, shape.meters, shape.false_rate / max(n_columns, 1)))


def assess(reference: Reference, window: Mapping[str, np.ndarray], shape: WindowShape) -> DriftStatus:
    """PSI and KS per column of the window's counts; drifting when a PSI is over its threshold.

    No verdict (never drifting) on fewer than `min_readings`, or when the window's readings
    span less than the window length (`span_s` < `window_s`)."""
    present = [
        (name, shares, window[name])
        for name, shares in zip(reference.columns, reference.shares, strict=True)
        if name in window and window[name].sum() > 0
    ]
    columns = tuple(
        ColumnDrift(
            name, psi(counts, shares), ks(counts, shares), column_threshold(shares, shape, len(present))
        )
        for name, shares, counts in present
    )
    base = (reference.version, shape.readings)
    if shape.readings < shape.min_readings:
        detail = f"{shape.readings} readings in the window, {shape.min_readings} needed for a verdict"
        return DriftStatus(*base, False, shape.threshold, columns, detail, shape.meters)
    if shape.span_s is not None and shape.span_s < shape.window_s:
        detail = f"the window spans {shape.span_s / 3600:g} h of the {shape.window_s / 3600:g} h needed for a verdict"
        return DriftStatus(*base, False, shape.threshold, columns, detail, shape.meters)
    status = DriftStatus(*base, False, shape.threshold, columns, "", shape.meters)
    drivers = status.drivers
    detail = "PSI over threshold: " + ", ".join(drivers) if drivers else "no drift"
    return DriftStatus(*base, bool(drivers), shape.threshold, columns, detail, shape.meters)


def merge(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Sum per-bucket counts into one window."""
    out: dict[str, np.ndarray] = {}
    for part in parts:
        for name, counts in part.items():
            out[name] = out[name] + counts if name in out else counts.copy()
    return out
