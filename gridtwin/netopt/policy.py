"""A table of optimal settings over head-end states, for serving within the latency budget.

The optimiser (linearisation + exact enumeration, `gridtwin.netopt.enumeration`) takes a few ms
per state; the per-reading budget is 0.3 ms. Training therefore solves it on a grid of head-end
states of each feeder (total P, total Q, busbar voltage; the load allocated by annual energy,
phases balanced by the allocation) within a voltage band narrowed by the linear model's error
(training/netopt/margin.py), verifies every solution by a full power flow, and stores:
configuration, loss before (present tap, banks off) and after. Serving maps a reading onto the
grid: the configuration of the nearest grid state, losses by trilinear interpolation (the
optimal loss is a continuous function of the state).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.netopt.linear import VoltageBand
from gridtwin.netopt.network import NetworkModel


def grid_coords(
    p: np.ndarray, q: np.ndarray, v: np.ndarray, p_axis: np.ndarray, q_axis: np.ndarray, v_axis: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Fractional grid coordinates of states (clipped to the grid) and whether each lay outside."""
    coords = []
    outside = np.zeros(len(p), bool)
    for x, axis in ((p, p_axis), (q, q_axis), (v, v_axis)):
        f = (x - axis[0]) / (axis[-1] - axis[0]) * (len(axis) - 1)
        outside |= (f < -1e-9) | (f > len(axis) - 1 + 1e-9) | ~np.isfinite(f)
        coords.append(np.clip(nan_to_num(f), 0, len(axis) - 1))
    return coords, outside


def nearest_grid_state(
    p: np.ndarray, q: np.ndarray, v: np.ndarray, p_axis: np.ndarray, q_axis: np.ndarray, v_axis: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid state whose setting `PolicyTable.lookup` serves for each state: total P (W),
    total Q (var), busbar voltage (pu)."""
    coords, _ = grid_coords(p, q, v, p_axis, q_axis, v_axis)
    return tuple(ax[np.rint(c).astype(int)] for c, ax in zip(coords, (p_axis, q_axis, v_axis), strict=True))


@dataclass
class PolicyTable:
    p_axis: np.ndarray  # (np,) W total
    q_axis: np.ndarray  # (nq,) var total
    v_axis: np.ndarray  # (nv,) pu busbar
    tap: np.ndarray  # (np, nq, nv) int
    steps: np.ndarray  # (np, nq, nv, K) int
    loss_before: np.ndarray  # (np, nq, nv) W, full power flow
    loss_after: np.ndarray  # (np, nq, nv) W, full power flow of the optimal configuration
    violation_after: np.ndarray  # (np, nq, nv) pu beyond the EN 50160 band after

    def save(self, path: Path, prefix: str, out: dict[str, np.ndarray]) -> None:
        for k, v in self.__dict__.items():
            out[f"{prefix}{k}"] = np.asarray(v)

    @classmethod
    def from_npz(cls, z: np.lib.npyio.NpzFile, prefix: str) -> PolicyTable:
        return cls(**{k: z[f"{prefix}{k}"] for k in cls.__dataclass_fields__})

    def lookup(self, p: np.ndarray, q: np.ndarray, v: np.ndarray) -> dict[str, np.ndarray]:
        """Configuration (nearest grid state) and interpolated losses for states (B,)."""
        coords, outside = grid_coords(p, q, v, self.p_axis, self.q_axis, self.v_axis)
        near = tuple(np.rint(c).astype(int) for c in coords)
        lo = [
            np.minimum(np.floor(c).astype(int), len(ax) - 2) if len(ax) > 1 else np.zeros_like(c, int)
            for c, ax in zip(coords, (self.p_axis, self.q_axis, self.v_axis), strict=True)
        ]
        fr = [c - low for c, low in zip(coords, lo, strict=True)]

        def interp(t: np.ndarray) -> np.ndarray:
            acc = np.zeros(len(p))
            for dx in (0, 1):
                for dy in (0, 1):
                    for dz in (0, 1):
                        w = (
                            (fr[0] if dx else 1 - fr[0])
                            * (fr[1] if dy else 1 - fr[1])
                            * (fr[2] if dz else 1 - fr[2])
                        )
                        acc += w * t[lo[0] + dx, lo[1] + dy, lo[2] + dz]
            return acc

        return {
            "tap": self.tap[near],
            "steps": self.steps[near],
            "loss_before": interp(self.loss_before),
            "loss_after": interp(self.loss_after),
            "violation_after": self.violation_after[near],
            "outside": outside,
        }


def verify(
    model: NetworkModel, s_node: np.ndarray, e_pu: np.ndarray, tap: np.ndarray, steps: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full power flow of S states (s_node (n, 3, S)) before (tap 0, banks off) and after
    (each state's own tap and steps): loss before, loss after (W), violation after (pu)."""
    from gridtwin.netopt.powerflow import solve, violation_pu

    g = s_node.shape[2]
    all_steps = np.vstack([np.zeros_like(steps), steps])
    taps = np.concatenate([np.zeros_like(tap), tap])
    res = solve(
        model,
        np.concatenate([s_node, s_node], axis=2),
        np.concatenate([e_pu, e_pu]) * model.tap_factor(taps),
        model.bank_susceptance(all_steps).T,
        tol_pu=1e-6,
    )
    vm = res.vmag_pu(model.un)
    viol = violation_pu(model, vm.min(axis=(0, 1)), vm.max(axis=(0, 1)))
    return res.loss_w[:g], res.loss_w[g:], viol[g:]


def build_table(
    model: NetworkModel, p_axis: np.ndarray, q_axis: np.ndarray, v_axis: np.ndarray, band: VoltageBand
) -> tuple[PolicyTable, np.ndarray, np.ndarray]:
    """Solve at every grid state within `band` and verify by full power flow (training only).

    Returns the table and the per-solve wall and CPU times (ms, linearisation + enumeration)."""
    from gridtwin.netopt.enumeration import optimise
    from gridtwin.netopt.state import equivalent_state

    shape = (len(p_axis), len(q_axis), len(v_axis))
    pp, qq, vv = (g.reshape(-1) for g in np.meshgrid(p_axis, q_axis, v_axis, indexing="ij"))
    per_phase_p = np.repeat(pp[:, None] / 3, 3, axis=1)
    per_phase_q = np.repeat(qq[:, None] / 3, 3, axis=1)
    s_node, e, _ = equivalent_state(model, per_phase_p, per_phase_q, vv)
    g = len(pp)
    tap = np.zeros(g, int)
    steps = np.zeros((g, model.n_banks), int)
    wall, cpu = np.zeros(g), np.zeros(g)
    for j in range(g):
        sol = optimise(model, s_node[:, :, j], float(e[j]), band)
        tap[j], steps[j], wall[j], cpu[j] = sol.tap, sol.steps, sol.solve_ms, sol.cpu_ms
    before, after, viol = verify(model, s_node, e, tap, steps)
    table = PolicyTable(
        p_axis,
        q_axis,
        v_axis,
        tap.reshape(shape),
        steps.reshape(shape + (model.n_banks,)),
        before.reshape(shape),
        after.reshape(shape),
        viol.reshape(shape),
    )
    return table, wall, cpu
