"""`NetworkModel`: a numpy-only export of an LV feeder for loss and Volt/VAr optimisation.

The physics is the sequence-frame common-path impedance model of a radial feeder used by the
simulator (docs/simulator.md, `gridsim.network`): node 0 is the LV busbar, nodes 1.. are the
customer buses; V_i = E - sum_j Z(i, j) I_j per sequence. The export adds what the three
network-physics models need and the simulator does not model:

* **Tap changer.** The transformer's own tap data (pandapower: HV-side ratio taps,
  kerber_dorfnetz +/-2 x 2.5 %); the LV no-load voltage scales by 1 / (1 + tap * step) for an
  HV-side tap (a higher HV tap lowers the LV voltage). The present position is taken as the
  network's `tap_pos` (0): a reading reflects the present tap.
* **Switched capacitor banks** (the bundled feeders have none; documented additions):
  ``B0`` at the LV busbar, 4 steps x 5 kvar (3-phase, star-connected, kvar at Un), and two
  remote banks of 4 steps x 2.5 kvar on the feeder sections with the largest loss moment
  (annual energy x line resistance), placed at two thirds of the section's electrical length
  (the classic 2/3 rule for a uniformly loaded line, Neagle & Samson, AIEE 1956). A feeder
  with a single section gets its second remote bank at one third.
  Banks are constant-impedance shunts: Q = steps * q_step * (|V| / Un)^2.
* **Load allocation weights**: each customer's annual energy (kWh) on its phase, normalised
  per phase (utilities allocate a measured head-end load to customers by billed energy).
* **Meter catalogue**: meter id -> kind (transformer / feeder_head / customer) and section.

Voltage limits are EN 50160 LV: Un +/- 10 % (standards.md "Supply voltage").
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

VMIN_PU = 0.90  # EN 50160: 10-min RMS within Un +/- 10 %
VMAX_PU = 1.10
BUSBAR_BANK = (4, 5_000.0)  # steps, var per step (3-phase total at Un)
REMOTE_BANK = (4, 2_500.0)


@dataclass
class NetworkModel:
    """Arrays of one feeder; all impedances in ohm per phase referred to the LV side."""

    name: str
    un: float  # nominal phase-to-neutral voltage (V)
    source_pu: float  # nominal no-load busbar voltage at the present tap (pu)
    z1: np.ndarray  # (n, n) complex positive-sequence common-path impedance (incl. source)
    z0: np.ndarray  # (n, n) complex zero-sequence common-path impedance
    path: np.ndarray  # (n_branches, n) bool: branch on the path busbar -> node
    br1: np.ndarray  # (n_branches,) positive-sequence branch resistance
    br0: np.ndarray  # (n_branches,) zero-sequence branch resistance
    node_head: np.ndarray  # (n,) feeder section of each node (-1 busbar)
    r_trafo: float  # transformer short-circuit resistance (LV side), load losses R_k * sum |I_p|^2
    pfe_w: float  # transformer no-load (core) loss at Un (W)
    weights: np.ndarray  # (n, 3) annual-energy share of each node within each phase
    bank_node: np.ndarray  # (K,) node of each capacitor bank
    bank_q_step: np.ndarray  # (K,) var per step, 3-phase total at Un
    bank_steps: np.ndarray  # (K,) number of steps (levels 0..steps)
    bank_names: np.ndarray  # (K,) str
    tap_min: int
    tap_max: int
    tap_step_pct: float
    tap_hv_side: bool
    meter_ids: np.ndarray  # (M,) str
    meter_kind: np.ndarray  # (M,) str
    meter_head: np.ndarray  # (M,) int section (-1 for the transformer meter)
    meter_node: np.ndarray  # (M,) int
    vmin_pu: float = VMIN_PU
    vmax_pu: float = VMAX_PU

    # ---- derived -----------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return self.z1.shape[0]

    @property
    def n_banks(self) -> int:
        return len(self.bank_node)

    @property
    def n_heads(self) -> int:
        return int(self.node_head.max()) + 1

    @property
    def taps(self) -> np.ndarray:
        return np.arange(self.tap_min, self.tap_max + 1)

    def tap_factor(self, tap: np.ndarray | int) -> np.ndarray:
        """LV no-load voltage relative to the present (tap 0) position."""
        step = np.asarray(tap, float) * self.tap_step_pct / 100.0
        return 1.0 / (1.0 + step) if self.tap_hv_side else 1.0 + step

    def bank_susceptance(self, steps: np.ndarray) -> np.ndarray:
        """Per-phase shunt susceptance (S) at every node for bank steps (..., K) -> (..., n)."""
        steps = np.asarray(steps, float)
        b_bank = steps * self.bank_q_step / 3.0 / self.un**2  # Q_phase = B * Un^2
        out = np.zeros(steps.shape[:-1] + (self.n_nodes,))
        for k, node in enumerate(self.bank_node):
            out[..., node] += b_bank[..., k]
        return out

    def all_bank_configs(self) -> np.ndarray:
        """Every combination of bank steps, (prod(steps+1), K) int."""
        grids = np.meshgrid(*[np.arange(s + 1) for s in self.bank_steps], indexing="ij")
        return np.stack([g.reshape(-1) for g in grids], axis=1)

    @cached_property
    def r_line_common(self) -> tuple[np.ndarray, np.ndarray]:
        """Shared line resistance of the paths to two nodes (positive/negative, zero sequence):
        Rl[n, m] = sum of the resistances of the branches on both paths (ohm). Line losses are
        3 sum_s I_s^H Rl_s I_s (with U0 = (Ua+Ub+Uc)/3 normalisation), the branch sum of
        I^2 R in n x n form. Cached: it depends on the network only, and the path product
        costs tens of ms on a feeder with hundreds of branches."""
        pf = self.path.astype(float)
        return pf.T @ (self.br1[:, None] * pf), pf.T @ (self.br0[:, None] * pf)

    @property
    def r_common(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss-resistance matrices (positive/negative, zero sequence): `r_line_common` plus the
        transformer's resistance, shared by every path."""
        rl1, rl0 = self.r_line_common
        return rl1 + self.r_trafo, rl0 + self.r_trafo

    def meter_index(self) -> dict[str, int]:
        return {str(m): i for i, m in enumerate(self.meter_ids)}

    # ---- persistence -------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        data: dict[str, Any] = {}
        for f in fields(self):
            data[f.name] = np.asarray(getattr(self, f.name))
        np.savez(path, **data)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> NetworkModel:
        with np.load(path, allow_pickle=False) as z:
            kw: dict[str, Any] = {}
            for f in fields(cls):
                v = z[f.name]
                if v.ndim == 0:
                    v = v.item()
                kw[f.name] = v
        kw["name"] = str(kw["name"])
        kw["tap_hv_side"] = bool(kw["tap_hv_side"])
        for k in ("tap_min", "tap_max"):
            kw[k] = int(kw[k])
        return cls(**kw)


def _two_thirds_node(path: np.ndarray, br1: np.ndarray, nodes: np.ndarray, frac: float) -> int:
    """The node of a section whose line resistance from the busbar is closest to `frac` of
    the section's largest."""
    r_line = (path[:, nodes] * br1[:, None]).sum(axis=0)
    return int(nodes[np.argmin(np.abs(r_line - frac * r_line.max()))])


def build_network_model(feeder: Any) -> NetworkModel:
    """Export a `gridsim.network.Feeder` (training time only; serving loads the .npz)."""
    net = feeder.net
    tr = net.trafo.iloc[0]
    n = feeder.n_nodes
    cust = feeder.customers
    weights = np.zeros((n, 3))
    for node, ph, kwh in zip(cust.node, cust.phase, cust.annual_kwh, strict=True):
        weights[int(node), "abc".index(ph)] += float(kwh)
    weights /= np.where(weights.sum(axis=0) > 0, weights.sum(axis=0), 1.0)

    # remote banks: sections with the largest loss moment (energy x line resistance)
    r_line = (feeder.path * feeder.branch_z1.real[:, None]).sum(axis=0)
    energy = weights.sum(axis=1)
    n_heads = int(feeder.node_head.max()) + 1
    moment = np.array([(energy * r_line)[feeder.node_head == h].sum() for h in range(n_heads)])
    order = np.argsort(-moment)
    placements = [(order[0], 2 / 3), (order[1], 2 / 3)] if n_heads > 1 else [(0, 2 / 3), (0, 1 / 3)]
    bank_node = [0]
    for h, frac in placements:
        nodes = np.flatnonzero(feeder.node_head == h)
        bank_node.append(_two_thirds_node(feeder.path, feeder.branch_z1.real, nodes, frac))
    steps = [BUSBAR_BANK[0], REMOTE_BANK[0], REMOTE_BANK[0]]
    q_step = [BUSBAR_BANK[1], REMOTE_BANK[1], REMOTE_BANK[1]]
    names = ["B0-busbar"] + [
        f"B{k + 1}-F{h + 1}-node{bank_node[k + 1]}" for k, (h, _) in enumerate(placements)
    ]

    tap_step = float(tr.get("tap_step_percent", 2.5) or 2.5)
    tap_min = int(tr.get("tap_min", -2) if np.isfinite(tr.get("tap_min", -2)) else -2)
    tap_max = int(tr.get("tap_max", 2) if np.isfinite(tr.get("tap_max", 2)) else 2)
    m = feeder.meters
    return NetworkModel(
        name=feeder.name,
        un=float(feeder.un),
        source_pu=float(feeder.settings.source_pu),
        z1=np.asarray(feeder.z1, complex),
        z0=np.asarray(feeder.z0, complex),
        path=np.asarray(feeder.path, bool),
        br1=feeder.branch_z1.real.astype(float),
        br0=feeder.branch_z0.real.astype(float),
        node_head=np.asarray(feeder.node_head, int),
        r_trafo=float(feeder.trafo["r_ohm"]),
        pfe_w=float(feeder.trafo["pfe_w"]),
        weights=weights,
        bank_node=np.array(bank_node, int),
        bank_q_step=np.array(q_step, float),
        bank_steps=np.array(steps, int),
        bank_names=np.array(names, dtype=str),
        tap_min=tap_min,
        tap_max=tap_max,
        tap_step_pct=tap_step,
        tap_hv_side=str(tr.get("tap_side", "hv")) == "hv",
        meter_ids=m.meter_id.to_numpy(dtype=str),
        meter_kind=m.kind.to_numpy(dtype=str),
        meter_head=m["head"].to_numpy(int),
        meter_node=m.node.to_numpy(int),
    )
