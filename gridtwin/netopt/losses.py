"""Served loss model: polynomial regression of line losses per unit loss-equivalent resistance,
plus the exact transformer losses (numpy only; artifact written by training/models/energy_loss).

R_eq of a section (ohm) = line loss / sum_p |I_p|^2 at its head, for the load allocated to the
section's customers by annual energy (balanced 10 kW per phase, PF 0.95): the resistance
that, carrying the measured head current, dissipates the section's line losses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gridtwin.netopt.catalogue import KIND_CUSTOMER, KIND_HEAD, KIND_TRANSFORMER, Catalogue
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.powerflow import solve

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
    i = np.nan_to_num(x[:, :3])
    return r_eq * (i**2).sum(axis=1)


def design(x: np.ndarray) -> np.ndarray:
    """Dimensionless descriptors of where and how the current flows (B, len(DESIGN)): phase
    shares of the current, current unbalance, signed P/S (export < 0, e.g. PV far down the
    feeder), Q/S, voltage deviation. The regression learns the loss per unit R_eq * sum I^2
    from these, so it does not depend on the feeder's size."""
    x = np.nan_to_num(x)
    i = x[:, :3]
    tot = np.maximum(i.sum(axis=1, keepdims=True), 1e-6)
    s = np.maximum(x[:, 6:7], 1e-6)
    return np.hstack([i / tot, x[:, 3:4] / 100.0, x[:, 4:5] / s, x[:, 5:6] / s, x[:, 7:8] - 1.0])


def loss_equivalent_resistance(model: NetworkModel) -> dict[str, float]:
    """R_eq (ohm) of every transformer/feeder-head meter of the model."""
    s = 10e3 * (1 + 1j * np.tan(np.arccos(0.95)))
    out: dict[str, float] = {}
    for mid, kind, head in zip(model.meter_ids, model.meter_kind, model.meter_head, strict=True):
        if kind not in (KIND_TRANSFORMER, KIND_HEAD):
            continue
        w = model.weights.copy()
        if kind == KIND_HEAD:
            w[model.node_head != head] = 0.0
            w /= np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1.0)
        flow = solve(model, (w * s)[:, :, None], model.source_pu)
        on = np.ones(model.n_nodes, bool) if kind == KIND_TRANSFORMER else model.node_head == head
        i_head = flow.i[on].sum(axis=0)[:, 0]
        out[str(mid)] = float(flow.line_w[0] / (np.abs(i_head) ** 2).sum())
    return out


def save_artifact(
    path: Path,
    models: list[NetworkModel],
    powers: np.ndarray,
    scale: np.ndarray,
    coef: np.ndarray,
    intercept: float,
) -> None:
    """One .npz with the regression and, per feeder, the catalogue and transformer data."""
    data: dict[str, np.ndarray] = {
        "powers": np.asarray(powers, int),
        "scale": np.asarray(scale, float),
        "coef": np.asarray(coef, float),
        "intercept": np.array(intercept),
        "n_feeders": np.array(len(models)),
    }
    for f, m in enumerate(models):
        r_eq = loss_equivalent_resistance(m)
        data[f"f{f}_name"] = np.array(m.name)
        data[f"f{f}_meter_ids"] = m.meter_ids
        data[f"f{f}_meter_kind"] = m.meter_kind
        data[f"f{f}_meter_head"] = m.meter_head
        data[f"f{f}_r_eq"] = np.array([r_eq.get(str(x), np.nan) for x in m.meter_ids])
        data[f"f{f}_weights"] = m.weights
        data[f"f{f}_node_head"] = m.node_head
        data[f"f{f}_trafo"] = np.array([m.r_trafo, m.pfe_w, m.un])
    np.savez(path, **data)


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
    """Line-loss regression + exact transformer losses for a batch of readings."""

    def __init__(
        self, powers: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: float, feeders: list
    ) -> None:
        self.powers = powers
        self.scale = scale
        self.coef = coef
        self.intercept = intercept
        self.feeders = feeders
        self.catalogue = Catalogue(feeders)

    @classmethod
    def load(cls, path: Path) -> LossModel:
        with np.load(path, allow_pickle=False) as z:
            feeders = [_Lite(z, f) for f in range(int(z["n_feeders"]))]
            return cls(z["powers"], z["scale"], z["coef"], float(z["intercept"]), feeders)

    def line_loss(self, x: np.ndarray, r_eq: np.ndarray) -> np.ndarray:
        """Line losses (W) from the INPUTS matrix (B, len(INPUTS)) and each meter's R_eq (ohm):
        physics_loss x the regressed loss ratio (polynomial in the DESIGN descriptors)."""
        z = design(x) / self.scale
        ratio = np.full(len(z), self.intercept)
        if len(self.coef):
            ratio = ratio + np.prod(z[:, None, :] ** self.powers[None], axis=2) @ self.coef
        return np.maximum(ratio, 0.0) * physics_loss(x, r_eq)

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
