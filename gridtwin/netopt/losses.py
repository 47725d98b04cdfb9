"""Served loss model: polynomial regression of line losses per unit loss-equivalent resistance,
plus the exact transformer losses. The regression (scaling, polynomial features, ridge) is an
ONNX graph run by ONNX Runtime; the network tables (catalogue, R_eq, transformer data) are an
.npz. Both are written by training/models/energy_loss.

R_eq of a section (ohm) = line loss / sum_p |I_p|^2 at its head, for the load allocated to the
section's customers by annual energy (balanced 10 kW per phase, PF 0.95): the resistance
that, carrying the measured head current, dissipates the section's line losses.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, KIND_TRANSFORMER, Catalogue
from gridtwin.serving.runtime import OnnxModel

# Serving features read by the loss model (docs/features.md).
INPUTS = (
    "current_a_a",
    "current_b_a",
    "current_c_a",
    "current_iuf_est_pct",
    "active_power_total_w",
    "reactive_power_total_var",
    "apparent_power_total_va",
    "voltage_mean_pu",
)
DESIGN = ("share_a", "share_b", "share_c", "iuf", "p_over_s", "q_over_s", "dv_pu")


def physics_loss(x: np.ndarray, r_eq: np.ndarray) -> np.ndarray:
    """R_eq * sum_p I_p^2 (W): the section's line loss if the measured head current flowed
    through its loss-equivalent resistance. x: (B, len(INPUTS))."""
    i = nan_to_num(x[:, :3])
    return r_eq * (i**2).sum(axis=1)


def design(x: np.ndarray) -> np.ndarray:
    """Dimensionless descriptors of where and how the current flows (B, len(DESIGN)): phase
    shares of the current, current unbalance, signed P/S (export < 0, e.g. PV far down the
    feeder), Q/S, voltage deviation. The regression learns the loss per unit R_eq * sum I^2
    from these, so it does not depend on the feeder's size."""
    x = nan_to_num(x)
    i = x[:, :3]
    tot = np.maximum(i.sum(axis=1, keepdims=True), 1e-6)
    s = np.maximum(x[:, 6:7], 1e-6)
    return np.hstack([i / tot, x[:, 3:4] / 100.0, x[:, 4:5] / s, x[:, 5:6] / s, x[:, 7:8] - 1.0])


class _Lite:
    """The catalogue fields of a NetworkModel (enough for `Catalogue`)."""

    def __init__(self, z: np.lib.npyio.NpzFile, f: int) -> None:
        self.name = str(z[f"f{f}_name"])
        self.meter_ids = z[f"f{f}_meter_ids"]
        self.meter_kind = z[f"f{f}_meter_kind"]
        self.meter_head = z[f"f{f}_meter_head"]
        self.r_eq = z[f"f{f}_r_eq"]
        self.weights = z[f"f{f}_weights"]
        self.node_head = z[f"f{f}_node_head"]
        self.r_trafo, self.pfe_w, self.un = (float(x) for x in z[f"f{f}_trafo"])


class LossModel:
    """Line-loss regression + exact transformer losses for a batch of readings.

    `ratio` maps the DESIGN descriptors (B, len(DESIGN)) to the regressed loss ratio (B,):
    the ONNX graph at serving, the fitted scikit-learn pipeline's `predict` in training.
    """

    def __init__(self, ratio: Callable[[np.ndarray], np.ndarray], feeders: list) -> None:
        self.ratio = ratio
        self.feeders = feeders
        self.catalogue = Catalogue(feeders)

    @classmethod
    def load(cls, network: Path, regression: Path | None, constant_ratio: float | None) -> LossModel:
        """From the network tables and the regression graph (or the one fitted ratio when the
        cross-validation chose the physics term alone)."""
        with np.load(network, allow_pickle=False) as z:
            feeders = [_Lite(z, f) for f in range(int(z["n_feeders"]))]
        if regression is None:
            value = float(constant_ratio)  # type: ignore[arg-type]
            return cls(lambda d: np.full(len(d), value), feeders)
        graph = OnnxModel(regression)
        return cls(lambda d: graph.run_one(d)[:, 0].astype(float), feeders)

    def line_loss(self, x: np.ndarray, r_eq: np.ndarray) -> np.ndarray:
        """Line losses (W) from the INPUTS matrix (B, len(INPUTS)) and each meter's R_eq (ohm):
        physics_loss x the regressed loss ratio (polynomial in the DESIGN descriptors)."""
        return np.maximum(self.ratio(design(x)), 0.0) * physics_loss(x, r_eq)

    def r_eq(self, feeder: np.ndarray, row: np.ndarray, kind: np.ndarray) -> np.ndarray:
        out = np.full(len(row), np.nan)
        for j, (f, r, k) in enumerate(zip(feeder, row, kind, strict=True)):
            if k in (KIND_TRANSFORMER, KIND_HEAD):
                out[j] = self.feeders[f].r_eq[r]
            elif k == "unknown":  # equivalent feeder: the training feeder's transformer meter
                tr = np.flatnonzero(self.feeders[0].meter_kind == KIND_TRANSFORMER)[0]
                out[j] = self.feeders[0].r_eq[tr]
        return out

    def scope(self, meter_ids: list[str]):
        return self.catalogue.scope(meter_ids)

    @staticmethod
    def is_customer(kind: np.ndarray) -> np.ndarray:
        return kind == KIND_CUSTOMER
