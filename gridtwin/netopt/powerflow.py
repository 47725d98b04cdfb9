"""Unbalanced power flow and technical losses on a `NetworkModel` (numpy only).

Same equations as the simulator (`gridsim.powerflow`, docs/simulator.md): fixed-point
("Z-bus Gauss") iteration in the sequence frame with constant-power single-phase loads,

    I_p = conj(S_p / V_p) + j B V_p          (load convention; B = capacitor-bank susceptance)
    V_seq = E_seq - Z_seq I_seq,  E_seq = (0, E, 0)

vectorised over a trailing axis T (states and/or configurations). Losses (standards.md
"Power"): line I^2 R in the sequence frame 3 sum_b [r1 (|I1|^2 + |I2|^2) + r0 |I0|^2],
transformer load loss R_k sum_p |I_p|^2, core loss P_fe (mean |V_busbar| / Un)^2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridtwin.netopt.network import NetworkModel

A = np.exp(2j * np.pi / 3)
T_MAT = np.array([[1, 1, 1], [1, A**2, A], [1, A, A**2]])  # phase = T @ seq
T_INV = np.linalg.inv(T_MAT)


def to_seq(x: np.ndarray) -> np.ndarray:
    """(n, 3, T) phase -> sequence (0, 1, 2) along axis 1."""
    return np.matmul(T_INV, x)


def to_phase(x: np.ndarray) -> np.ndarray:
    return np.matmul(T_MAT, x)


@dataclass
class FlowResult:
    v: np.ndarray  # (n, 3, T) complex phase-to-neutral voltages (V)
    i: np.ndarray  # (n, 3, T) complex node currents incl. capacitor banks (A, load convention)
    line_w: np.ndarray  # (T,)
    trafo_load_w: np.ndarray  # (T,)
    core_w: np.ndarray  # (T,)
    converged: bool

    @property
    def loss_w(self) -> np.ndarray:
        return self.line_w + self.trafo_load_w + self.core_w

    def vmag_pu(self, un: float) -> np.ndarray:
        return np.abs(self.v) / un

    def head_power(self) -> np.ndarray:
        """Complex power per phase at the busbar meter, (3, T) VA."""
        return self.v[0] * np.conj(self.i.sum(axis=0))


def solve(
    model: NetworkModel,
    s_node: np.ndarray,
    e_pu: np.ndarray | float,
    b_shunt: np.ndarray | None = None,
    tol_pu: float = 1e-7,
    max_iter: int = 60,
) -> FlowResult:
    """Power flow for node powers `s_node` (n, 3, T) VA, source `e_pu` (T,) pu and per-phase
    shunt susceptances `b_shunt` (n, T) S (capacitor banks)."""
    n, _, t = s_node.shape
    un = model.un
    e = np.broadcast_to(np.asarray(e_pu, float), (t,)) * un
    b = np.zeros((n, t)) if b_shunt is None else np.asarray(b_shunt, float)
    v = np.empty((n, 3, t), complex)
    v[:] = e[None, None, :] * np.array([1, A**2, A])[None, :, None]
    converged = False
    for _ in range(max_iter):
        i = np.conj(s_node / v) + 1j * b[:, None, :] * v
        i_seq = to_seq(i)
        v_seq = np.empty_like(i_seq)
        v_seq[:, 0] = -model.z0 @ i_seq[:, 0]
        v_seq[:, 1] = e[None, :] - model.z1 @ i_seq[:, 1]
        v_seq[:, 2] = -model.z1 @ i_seq[:, 2]
        v_new = to_phase(v_seq)
        delta = np.max(np.abs(v_new - v)) / un
        v = v_new
        if delta < tol_pu:
            converged = True
            break
    i = np.conj(s_node / v) + 1j * b[:, None, :] * v
    line, trafo, core = losses(model, i, v[0])
    return FlowResult(v=v, i=i, line_w=line, trafo_load_w=trafo, core_w=core, converged=converged)


def losses(model: NetworkModel, i_node: np.ndarray, v_busbar: np.ndarray) -> tuple[np.ndarray, ...]:
    """Line, transformer-load and core losses (W), each (T,).

    Line losses as 3 sum_s I_s^H Rl_s I_s (NetworkModel.r_line_common), the same sum over
    branches of r |I_branch|^2 without forming the branch currents."""
    i_seq = to_seq(i_node)
    rl1, rl0 = model.r_line_common
    line = np.zeros(i_seq.shape[2])
    for seq, rl in ((0, rl0), (1, rl1), (2, rl1)):
        x = i_seq[:, seq]  # (n, T): Re(x^H Rl x) with Rl real symmetric, in real arithmetic
        line += (x.real * (rl @ x.real) + x.imag * (rl @ x.imag)).sum(axis=0)
    line *= 3
    i_tot = i_node.sum(axis=0)
    trafo = model.r_trafo * (np.abs(i_tot) ** 2).sum(axis=0)
    core = model.pfe_w * (np.abs(v_busbar).mean(axis=0) / model.un) ** 2
    return line, trafo, core


def evaluate_configs(
    model: NetworkModel,
    s_node: np.ndarray,
    e_pu: np.ndarray | float,
    taps: np.ndarray,
    steps: np.ndarray,
    chunk_columns: int = 20_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Full power flow of S states (s_node (n, 3) or (n, 3, S); source e_pu at tap 0, scalar
    or (S,)) under C configurations (taps (C,), bank steps (C, K)).

    Returns (loss_w, vmin_pu, vmax_pu), each (S, C) (or (C,) for a single state), over every
    node and phase.
    """
    single = s_node.ndim == 2
    s3 = s_node[:, :, None] if single else s_node
    n_states = s3.shape[2]
    e_states = np.broadcast_to(np.asarray(e_pu, float), (n_states,))
    c = len(taps)
    b_cfg = model.bank_susceptance(steps).T  # (n, C)
    f_cfg = model.tap_factor(taps)  # (C,)
    loss = np.empty((n_states, c))
    vmin = np.empty((n_states, c))
    vmax = np.empty((n_states, c))
    per = max(1, chunk_columns // c)
    for a in range(0, n_states, per):
        idx = np.arange(a, min(n_states, a + per))
        s = np.repeat(s3[:, :, idx], c, axis=2)  # state-major columns
        e = (e_states[idx][:, None] * f_cfg[None]).reshape(-1)
        b = np.tile(b_cfg, (1, len(idx)))
        res = solve(model, s, e, b, tol_pu=1e-6)  # 0.23 mV: loss error < 1e-5 relative
        vm = res.vmag_pu(model.un)
        loss[idx] = res.loss_w.reshape(len(idx), c)
        vmin[idx] = vm.min(axis=(0, 1)).reshape(len(idx), c)
        vmax[idx] = vm.max(axis=(0, 1)).reshape(len(idx), c)
    if single:
        return loss[0], vmin[0], vmax[0]
    return loss, vmin, vmax


def violation_pu(model: NetworkModel, vmin: np.ndarray, vmax: np.ndarray) -> np.ndarray:
    """Sum of the under- and over-voltage excursions beyond the EN 50160 band (pu)."""
    return np.maximum(model.vmin_pu - vmin, 0) + np.maximum(vmax - model.vmax_pu, 0)


def exhaustive_optimum(
    model: NetworkModel,
    s_node: np.ndarray,
    e_pu: np.ndarray | float,
    taps: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Exhaustive search over every tap position and bank-step combination (full power flow
    each) for S states (s_node (n, 3, S)): per state the configuration of least loss with all
    voltages within limits (if none is feasible, the least-violating one).

    `taps` restricts the tap positions (e.g. ``[0]`` for capacitor banks only).
    """
    banks = model.all_bank_configs()
    taps = model.taps if taps is None else np.asarray(taps)
    tt = np.repeat(taps, len(banks))
    bb = np.tile(banks, (len(taps), 1))
    s3 = s_node[:, :, None] if s_node.ndim == 2 else s_node
    loss, vmin, vmax = evaluate_configs(model, s3, e_pu, tt, bb)
    viol = violation_pu(model, vmin, vmax)
    feasible = viol <= 1e-9
    score = np.where(feasible, loss, np.inf)
    none = ~feasible.any(axis=1)
    score[none] = (viol * 1e9 + loss)[none]
    k = np.argmin(score, axis=1)
    rows = np.arange(len(k))
    return {
        "tap": tt[k],
        "steps": bb[k],
        "loss_w": loss[rows, k],
        "feasible": feasible[rows, k],
        "all_loss": loss,
        "all_feasible": feasible,
        "taps": tt,
        "banks": bb,
    }
