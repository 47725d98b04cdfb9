"""Meter catalogue shared by the served network models (numpy only).

Maps a meter id onto (feeder, kind, section) for the feeders the models were built for; an
unknown meter is treated as the transformer meter of the first (training) feeder, and the
answer says so. See `gridtwin.netopt.state` for what each kind means for the feeder state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gridtwin.netopt.network import NetworkModel

KIND_TRANSFORMER, KIND_HEAD, KIND_CUSTOMER, KIND_UNKNOWN = "transformer", "feeder_head", "customer", "unknown"


@dataclass
class Scope:
    feeder: np.ndarray  # (B,) int index into the models list
    kind: np.ndarray  # (B,) str
    head: np.ndarray  # (B,) int section (-1 transformer / unknown)
    row: np.ndarray  # (B,) int row in that feeder's meter catalogue (-1 unknown)


class Catalogue:
    """Meter id -> scope over one or more `NetworkModel`s (first = default feeder)."""

    def __init__(self, models: Sequence[NetworkModel]) -> None:
        self.models = list(models)
        self._index: dict[str, tuple[int, int]] = {}
        for f, m in enumerate(self.models):
            for r, mid in enumerate(m.meter_ids):
                self._index[str(mid)] = (f, r)

    def scope(self, meter_ids: Sequence[str]) -> Scope:
        n = len(meter_ids)
        feeder = np.zeros(n, int)
        kind = np.empty(n, dtype=object)
        head = np.full(n, -1)
        row = np.full(n, -1)
        for j, mid in enumerate(meter_ids):
            hit = self._index.get(mid)
            if hit is None:
                kind[j] = KIND_UNKNOWN
                continue
            f, r = hit
            m = self.models[f]
            feeder[j], row[j] = f, r
            kind[j] = str(m.meter_kind[r])
            head[j] = int(m.meter_head[r])
        return Scope(feeder, kind, head, row)

    def feeder_scale(self, scope: Scope) -> np.ndarray:
        """Per-phase factor (B, 3) from a meter's measurement to its whole feeder: 1 for the
        transformer (and unknown) meters, 1 / (section's annual-energy share per phase) for
        a feeder-head meter (extrapolation), NaN for customer meters."""
        out = np.ones((len(scope.kind), 3))
        for j, (f, h, k) in enumerate(zip(scope.feeder, scope.head, scope.kind, strict=True)):
            if k == KIND_CUSTOMER:
                out[j] = np.nan
            elif k == KIND_HEAD and h >= 0:
                m = self.models[f]
                share = m.weights[m.node_head == h].sum(axis=0)
                out[j] = np.where(share > 1e-9, 1.0 / np.maximum(share, 1e-9), 0.0)
        return out


def scope_note(kind: str, feeder_name: str) -> str:
    """One line for info.detail on how the reading was mapped onto the feeder."""
    return {
        KIND_TRANSFORMER: f"transformer meter: head-end of feeder {feeder_name}",
        KIND_HEAD: f"feeder-head meter: section measured, rest of {feeder_name} extrapolated by annual energy",
        KIND_CUSTOMER: "customer meter: feeder state not observable from one connection",
        KIND_UNKNOWN: f"meter not in the catalogue: treated as the transformer meter of an equivalent "
        f"feeder ({feeder_name})",
    }[kind]
