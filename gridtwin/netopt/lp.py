"""Tap position and capacitor steps minimising losses with voltages in limits: a MILP (HiGHS).

Linearised model of one feeder state (built from a handful of full power flows, so the
coefficients include the constant-power loads' response and the core loss):

* **Tap** (one-hot y_t over the positions): the exact loss L0(t) and node voltages V0(t)
  of a power flow at each position with the banks off.
* **Banks** (one-hot z_{k,s} over the levels s = 0..N_k of bank k): the exact loss change
  dL_k(s) and voltage change dV_k(s) of a power flow with only bank k at level s (tap 0).
* **Bank interaction**: losses are quadratic in the bank currents d_k through the shared
  resistances, 2 Re(d_k^H Rc d_l) * 3 per pair of steps (Rc: common-path resistance incl.
  the transformer); the product z_{k,s} z_{l,r} is linearised exactly with
  w >= z_ks + z_lr - 1, w <= z_ks, w <= z_lr.
* Tap x bank interaction is neglected (second order); the chosen configuration is verified
  by a full power flow in training/evaluation.

    min  sum_t L0(t) y_t + sum_ks dL_k(s) z_ks + sum_pairs c_klsr w_klsr + M sigma
    s.t. Vmin - sigma <= V0(t) y + sum_ks dV_k(s) z_ks <= Vmax + sigma   (every node, phase)
         sum_t y_t = 1,  sum_s z_ks = 1,  y, z binary,  sigma >= 0

sigma (pu) keeps the problem feasible when no setting reaches the EN 50160 band; it is
reported. Solved with scipy.optimize.milp (HiGHS).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.powerflow import T_INV, solve

PENALTY_W_PER_PU = 1e8  # 1 MW per pu of voltage-band violation: dominates any loss


@dataclass
class Linearisation:
    taps: np.ndarray  # (nt,)
    loss0: np.ndarray  # (nt,) W
    v0: np.ndarray  # (nt, m) pu over node-phases
    d_loss: list[np.ndarray]  # per bank (N_k + 1,) W (level 0 = 0)
    d_v: list[np.ndarray]  # per bank (N_k + 1, m) pu
    pair: dict[tuple[int, int], float]  # (k, l) -> W per step_k * step_l


@dataclass
class Solution:
    tap: int
    steps: np.ndarray
    predicted_loss_w: float
    base_loss_w: float
    violation_pu: float
    solve_ms: float
    status: int


def linearise(model: NetworkModel, s_node: np.ndarray, e_pu: float) -> Linearisation:
    """Coefficients of the MILP at one state (s_node (n, 3) VA, e_pu source at tap 0)."""
    taps = model.taps
    levels = [np.arange(1, n + 1) for n in model.bank_steps]
    n_single = sum(len(lv) for lv in levels)
    cols_tap = len(taps)
    steps = np.zeros((cols_tap + n_single, model.n_banks))
    tap_col = np.zeros(cols_tap + n_single)
    tap_col[:cols_tap] = taps
    j = cols_tap
    for k, lv in enumerate(levels):
        steps[j : j + len(lv), k] = lv
        j += len(lv)
    s = np.repeat(s_node[:, :, None], len(tap_col), axis=2)
    res = solve(model, s, e_pu * model.tap_factor(tap_col), model.bank_susceptance(steps).T)
    vm = (np.abs(res.v) / model.un).reshape(-1, len(tap_col)).T  # (cols, n*3)
    loss = res.loss_w
    i0 = int(np.flatnonzero(taps == 0)[0]) if (taps == 0).any() else 0
    d_loss, d_v = [], []
    j = cols_tap
    for lv in levels:
        d_loss.append(np.concatenate([[0.0], loss[j : j + len(lv)] - loss[i0]]))
        d_v.append(np.vstack([np.zeros(vm.shape[1]), vm[j : j + len(lv)] - vm[i0]]))
        j += len(lv)
    # pairwise loss term from the shared resistances (per step x step)
    rc1, rc0 = model.r_common()
    v_base = res.v[:, :, i0]
    d_seq = []
    for k, node in enumerate(model.bank_node):
        b = model.bank_q_step[k] / 3.0 / model.un**2
        d_seq.append((T_INV @ (1j * b * v_base[node]), node))
    pair = {}
    for k in range(model.n_banks):
        for m_ in range(k + 1, model.n_banks):
            (dk, nk), (dl, nl) = d_seq[k], d_seq[m_]
            q = 3 * (np.conj(dk[0]) * rc0[nk, nl] * dl[0] + np.conj(dk[1:]) @ (rc1[nk, nl] * dl[1:]))
            pair[(k, m_)] = float(2 * q.real)
    return Linearisation(taps, loss[:cols_tap], vm[:cols_tap], d_loss, d_v, pair)


def solve_milp(model: NetworkModel, lin: Linearisation, time_limit_s: float = 1.0) -> Solution:
    """Solve the MILP of one linearised state with HiGHS."""
    started = time.perf_counter()
    nt = len(lin.taps)
    z_off = [nt]
    for dl in lin.d_loss:
        z_off.append(z_off[-1] + len(dl))
    n_z_end = z_off[-1]
    pairs = []  # (k, s, l, r, coefficient)
    for (k, m_), q in lin.pair.items():
        for s in range(1, len(lin.d_loss[k])):
            for r in range(1, len(lin.d_loss[m_])):
                pairs.append((k, s, m_, r, q * s * r))
    w_off = n_z_end
    sig = w_off + len(pairs)
    nvar = sig + 1
    c = np.zeros(nvar)
    c[:nt] = lin.loss0
    for k, dl in enumerate(lin.d_loss):
        c[z_off[k] : z_off[k] + len(dl)] = dl
    for i, p in enumerate(pairs):
        c[w_off + i] = p[4]
    c[sig] = PENALTY_W_PER_PU
    rows, cols, vals, lo, hi = [], [], [], [], []
    r = 0

    def add(entries: list[tuple[int, float]], lb: float, ub: float) -> None:
        nonlocal r
        for col, val in entries:
            rows.append(r)
            cols.append(col)
            vals.append(val)
        lo.append(lb)
        hi.append(ub)
        r += 1

    add([(t, 1.0) for t in range(nt)], 1, 1)
    for k, dl in enumerate(lin.d_loss):
        add([(z_off[k] + s, 1.0) for s in range(len(dl))], 1, 1)
    for i, (k, s, m_, rr, _) in enumerate(pairs):
        zk, zl, w = z_off[k] + s, z_off[m_] + rr, w_off + i
        add([(w, 1.0), (zk, -1.0), (zl, -1.0)], -1, np.inf)
        add([(w, 1.0), (zk, -1.0)], -np.inf, 0)
        add([(w, 1.0), (zl, -1.0)], -np.inf, 0)
    # voltage band per node-phase; rows that no setting can push past a limit are dropped
    # (exact pruning: bound = extreme base voltage + every bank's extreme change)
    dense = np.zeros((lin.v0.shape[1], nvar))
    dense[:, :nt] = lin.v0.T
    for k, dv in enumerate(lin.d_v):
        dense[:, z_off[k] : z_off[k] + len(dv)] = dv.T
    v_hi = lin.v0.max(axis=0) + sum(dv.max(axis=0) for dv in lin.d_v)
    v_lo = lin.v0.min(axis=0) + sum(dv.min(axis=0) for dv in lin.d_v)
    up = dense[v_hi > model.vmax_pu]
    up[:, sig] = -1.0
    dn = dense[v_lo < model.vmin_pu]
    dn[:, sig] = 1.0
    sparse = coo_matrix((vals, (rows, cols)), shape=(r, nvar)).toarray()
    a_mat = np.vstack([sparse, up, dn])
    lb = np.concatenate([lo, np.full(len(up), -np.inf), np.full(len(dn), model.vmin_pu)])
    ub = np.concatenate([hi, np.full(len(up), model.vmax_pu), np.full(len(dn), np.inf)])
    integrality = np.zeros(nvar)
    integrality[:n_z_end] = 1
    upper = np.ones(nvar)
    upper[sig] = np.inf
    res = milp(
        c,
        constraints=LinearConstraint(a_mat, lb, ub),
        integrality=integrality,
        bounds=Bounds(np.zeros(nvar), upper),
        options={"time_limit": time_limit_s, "presolve": True},
    )
    elapsed = (time.perf_counter() - started) * 1e3
    i0 = int(np.flatnonzero(lin.taps == 0)[0]) if (lin.taps == 0).any() else 0
    if res.x is None:  # no solution: keep the present configuration
        return Solution(
            0,
            np.zeros(len(lin.d_loss), int),
            float(lin.loss0[i0]),
            float(lin.loss0[i0]),
            float("nan"),
            elapsed,
            int(res.status),
        )
    x = res.x
    tap = int(lin.taps[int(np.argmax(x[:nt]))])
    steps = np.array([int(np.argmax(x[z_off[k] : z_off[k] + len(dl)])) for k, dl in enumerate(lin.d_loss)])
    pred = float(c[:sig] @ x[:sig])
    return Solution(tap, steps, pred, float(lin.loss0[i0]), float(x[sig]), elapsed, int(res.status))


def optimise(model: NetworkModel, s_node: np.ndarray, e_pu: float) -> Solution:
    """Linearise at the state and solve the MILP (solve_ms covers both)."""
    started = time.perf_counter()
    sol = solve_milp(model, linearise(model, s_node, e_pu))
    sol.solve_ms = (time.perf_counter() - started) * 1e3
    return sol
