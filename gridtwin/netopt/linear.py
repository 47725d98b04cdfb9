"""The linearised loss and voltage model of one feeder state, for choosing tap and capacitor steps.

Built from a handful of full power flows at the state (so the coefficients include the
constant-power loads' response and the core loss):

* **Tap**: the exact loss L0(t) (W) and node voltages V0(t) (pu) of a power flow at each
  position with the banks off.
* **Banks**: the exact loss change dL_k(s) (W) and voltage change dV_k(s) (pu) of a power
  flow with only bank k at level s (tap 0).
* **Bank interaction**: losses are quadratic in the bank currents d_k through the shared
  resistances, 2 Re(d_k^H Rc d_l) * 3 per pair of steps (Rc: common-path resistance incl.
  the transformer; standards.md "Power": line losses scale with I^2 R).
* Tap x bank interaction is neglected (second order); a chosen configuration is verified by a
  full power flow in training and evaluation.

So for tap t and bank levels s = (s_1..s_K):

    loss(t, s) = L0(t) + sum_k dL_k(s_k) + sum_{k<l} c_kl s_k s_l
    V(t, s)    = V0(t) + sum_k dV_k(s_k)          (every node and phase)

Two solvers minimise the same problem (loss + PENALTY_W_PER_PU x worst excursion beyond the
voltage band): `gridtwin.netopt.enumeration` (every combination, the one used) and the MILP
in `gridtwin.netopt.lp` (HiGHS, kept as the reference the tests compare against).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    @property
    def present_tap_index(self) -> int:
        """Index of the present position (tap 0) in `taps`."""
        return int(np.flatnonzero(self.taps == 0)[0]) if (self.taps == 0).any() else 0


@dataclass(frozen=True)
class VoltageBand:
    """The node-voltage band (pu of Un) the optimiser keeps: EN 50160 §4.2.2 (Un ± 10 %)
    narrowed by a margin for the linear model's error (training/netopt/margin.py)."""

    vmin_pu: float
    vmax_pu: float

    @classmethod
    def of(cls, model: NetworkModel, under_pu: float = 0.0, over_pu: float = 0.0) -> VoltageBand:
        return cls(model.vmin_pu + under_pu, model.vmax_pu - over_pu)


@dataclass
class Solution:
    tap: int
    steps: np.ndarray
    predicted_loss_w: float
    base_loss_w: float
    violation_pu: float  # worst excursion beyond the band the optimiser kept (linear model)
    solve_ms: float  # wall-clock
    status: int
    cpu_ms: float = float("nan")  # process CPU time (less sensitive to a shared machine)

    @property
    def objective_w(self) -> float:
        """The minimised objective: predicted loss plus the band-violation penalty."""
        return self.predicted_loss_w + PENALTY_W_PER_PU * self.violation_pu


def _probe_columns(model: NetworkModel) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Tap positions and bank steps of the probing power flows: every tap (banks off), then
    every level of one bank at a time (tap 0)."""
    levels = [np.arange(1, n + 1) for n in model.bank_steps]
    n_cols = len(model.taps) + sum(len(lv) for lv in levels)
    steps = np.zeros((n_cols, model.n_banks))
    tap_col = np.zeros(n_cols)
    tap_col[: len(model.taps)] = model.taps
    j = len(model.taps)
    for k, lv in enumerate(levels):
        steps[j : j + len(lv), k] = lv
        j += len(lv)
    return tap_col, steps, levels


def _pair_terms(model: NetworkModel, v_base: np.ndarray) -> dict[tuple[int, int], float]:
    """Loss of the interaction of two banks per step x step (W): 2 Re(3 d_k^H Rc d_l) with
    d the sequence currents of one step of each bank at the base voltages (n, 3)."""
    rc1, rc0 = model.r_common
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
    return pair


def linearise(model: NetworkModel, s_node: np.ndarray, e_pu: float) -> Linearisation:
    """Coefficients of the linear model at one state (s_node (n, 3) VA, e_pu source at tap 0)."""
    taps = model.taps
    tap_col, steps, levels = _probe_columns(model)
    s = np.repeat(s_node[:, :, None], len(tap_col), axis=2)
    res = solve(model, s, e_pu * model.tap_factor(tap_col), model.bank_susceptance(steps).T)
    # (cols, n*3), C order: the enumeration reduces over node-phases, the last axis
    vm = np.ascontiguousarray((np.abs(res.v) / model.un).reshape(-1, len(tap_col)).T)
    loss = res.loss_w
    i0 = int(np.flatnonzero(taps == 0)[0]) if (taps == 0).any() else 0
    d_loss, d_v = [], []
    j = len(taps)
    for lv in levels:
        d_loss.append(np.concatenate([[0.0], loss[j : j + len(lv)] - loss[i0]]))
        d_v.append(np.vstack([np.zeros(vm.shape[1]), vm[j : j + len(lv)] - vm[i0]]))
        j += len(lv)
    pair = _pair_terms(model, res.v[:, :, i0])
    return Linearisation(taps, loss[: len(taps)], vm[: len(taps)], d_loss, d_v, pair)
