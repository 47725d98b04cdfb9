"""The reference solver: the linearised tap/capacitor problem as a MILP (scipy HiGHS).

Not on any served or training path any more: `gridtwin.netopt.enumeration` finds the same
optimum by evaluating every setting, 10-30 x faster. This MILP is kept so a test can check the
enumeration against an independent solver (tests/unit/test_netopt_physics.py). The model
(gridtwin.netopt.linear) as a MILP:

    min  sum_t L0(t) y_t + sum_ks dL_k(s) z_ks + sum_pairs c_klsr w_klsr + M sigma
    s.t. Vmin - sigma <= V0(t) y + sum_ks dV_k(s) z_ks <= Vmax + sigma   (every node, phase)
         sum_t y_t = 1,  sum_s z_ks = 1,  y, z binary,  sigma >= 0

(y: one-hot tap, z: one-hot level of each bank; the product z_ks z_lr is linearised exactly
with w >= z_ks + z_lr - 1, w <= z_ks, w <= z_lr). sigma (pu) keeps the problem feasible when no
setting reaches the band.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from gridtwin.netopt.linear import PENALTY_W_PER_PU, Linearisation, Solution, VoltageBand, linearise
from gridtwin.netopt.network import NetworkModel


@dataclass
class _Layout:
    """Column offsets of the MILP variables: taps, bank levels, pair products, sigma."""

    nt: int
    z_off: list[int]
    pairs: list[tuple[int, int, int, int, float]]  # (k, s, l, r, coefficient W)

    @property
    def n_z_end(self) -> int:
        return self.z_off[-1]

    @property
    def sigma(self) -> int:
        return self.n_z_end + len(self.pairs)


def _layout(lin: Linearisation) -> _Layout:
    z_off = [len(lin.taps)]
    for dl in lin.d_loss:
        z_off.append(z_off[-1] + len(dl))
    pairs = [
        (k, s, m_, r, q * s * r)
        for (k, m_), q in lin.pair.items()
        for s in range(1, len(lin.d_loss[k]))
        for r in range(1, len(lin.d_loss[m_]))
    ]
    return _Layout(len(lin.taps), z_off, pairs)


def _objective(lin: Linearisation, lay: _Layout) -> np.ndarray:
    c = np.zeros(lay.sigma + 1)
    c[: lay.nt] = lin.loss0
    for k, dl in enumerate(lin.d_loss):
        c[lay.z_off[k] : lay.z_off[k] + len(dl)] = dl
    for i, p in enumerate(lay.pairs):
        c[lay.n_z_end + i] = p[4]
    c[lay.sigma] = PENALTY_W_PER_PU
    return c


def _choice_rows(lin: Linearisation, lay: _Layout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-hot rows (one tap, one level per bank) and the exact product linearisation."""
    rows: list[tuple[list[tuple[int, float]], float, float]] = [([(t, 1.0) for t in range(lay.nt)], 1, 1)]
    for k, dl in enumerate(lin.d_loss):
        rows.append(([(lay.z_off[k] + s, 1.0) for s in range(len(dl))], 1, 1))
    for i, (k, s, m_, rr, _) in enumerate(lay.pairs):
        zk, zl, w = lay.z_off[k] + s, lay.z_off[m_] + rr, lay.n_z_end + i
        rows += [([(w, 1.0), (zk, -1.0), (zl, -1.0)], -1, np.inf), ([(w, 1.0), (zk, -1.0)], -np.inf, 0)]
        rows.append(([(w, 1.0), (zl, -1.0)], -np.inf, 0))
    r_idx = [r for r, (entries, _, _) in enumerate(rows) for _ in entries]
    cols = [col for entries, _, _ in rows for col, _ in entries]
    vals = [val for entries, _, _ in rows for _, val in entries]
    a = coo_matrix((vals, (r_idx, cols)), shape=(len(rows), lay.sigma + 1)).toarray()
    return a, np.array([r[1] for r in rows], float), np.array([r[2] for r in rows], float)


def _voltage_rows(lin: Linearisation, lay: _Layout, band: VoltageBand) -> tuple[np.ndarray, ...]:
    """Band rows per node-phase; rows no setting can push past a limit are dropped (exact
    pruning: bound = extreme base voltage + every bank's extreme change)."""
    dense = np.zeros((lin.v0.shape[1], lay.sigma + 1))
    dense[:, : lay.nt] = lin.v0.T
    for k, dv in enumerate(lin.d_v):
        dense[:, lay.z_off[k] : lay.z_off[k] + len(dv)] = dv.T
    v_hi = lin.v0.max(axis=0) + sum(dv.max(axis=0) for dv in lin.d_v)
    v_lo = lin.v0.min(axis=0) + sum(dv.min(axis=0) for dv in lin.d_v)
    up = dense[v_hi > band.vmax_pu]
    up[:, lay.sigma] = -1.0
    dn = dense[v_lo < band.vmin_pu]
    dn[:, lay.sigma] = 1.0
    lb = np.concatenate([np.full(len(up), -np.inf), np.full(len(dn), band.vmin_pu)])
    ub = np.concatenate([np.full(len(up), band.vmax_pu), np.full(len(dn), np.inf)])
    return np.vstack([up, dn]), lb, ub


def solve_milp(lin: Linearisation, band: VoltageBand, time_limit_s: float = 1.0) -> Solution:
    """Solve the MILP of one linearised state with HiGHS."""
    started, cpu = time.perf_counter(), time.process_time()
    lay = _layout(lin)
    c = _objective(lin, lay)
    a1, lb1, ub1 = _choice_rows(lin, lay)
    a2, lb2, ub2 = _voltage_rows(lin, lay, band)
    integrality = np.zeros(len(c))
    integrality[: lay.n_z_end] = 1
    upper = np.ones(len(c))
    upper[lay.sigma] = np.inf
    res = milp(
        c,
        constraints=LinearConstraint(
            np.vstack([a1, a2]), np.concatenate([lb1, lb2]), np.concatenate([ub1, ub2])
        ),
        integrality=integrality,
        bounds=Bounds(np.zeros(len(c)), upper),
        options={"time_limit": time_limit_s, "presolve": True},
    )
    elapsed, cpu_ms = (time.perf_counter() - started) * 1e3, (time.process_time() - cpu) * 1e3
    base = float(lin.loss0[lin.present_tap_index])
    if res.x is None:  # no solution: keep the present configuration
        return Solution(
            0, np.zeros(len(lin.d_loss), int), base, base, float("nan"), elapsed, int(res.status), cpu_ms
        )
    x = res.x
    tap = int(lin.taps[int(np.argmax(x[: lay.nt]))])
    steps = np.array([int(np.argmax(x[lay.z_off[k] : lay.z_off[k + 1]])) for k in range(len(lin.d_loss))])
    pred = float(c[: lay.sigma] @ x[: lay.sigma])
    return Solution(tap, steps, pred, base, float(x[lay.sigma]), elapsed, int(res.status), cpu_ms)


def optimise_milp(
    model: NetworkModel, s_node: np.ndarray, e_pu: float, band: VoltageBand | None = None
) -> Solution:
    """Linearise at the state and solve the MILP (solve_ms covers both)."""
    started = time.perf_counter()
    sol = solve_milp(linearise(model, s_node, e_pu), band or VoltageBand.of(model))
    sol.solve_ms = (time.perf_counter() - started) * 1e3
    return sol
