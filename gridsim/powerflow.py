"""Unbalanced (per-phase) power flow on the common-path impedance model of a radial feeder.

Method: fixed-point ("Z-bus Gauss") iteration in the sequence frame with constant-power
single-phase loads (phase-to-neutral):

    I_j,p = conj(S_j,p / V_j,p)                      (load convention, VA -> A)
    I_seq = T^-1 I_ph,   V_seq = E_seq - Z_seq I_seq,  V_ph = T V_seq

with T the Fortescue matrix (a = 1∠120°; U0 = (Ua+Ub+Uc)/3, U1 = (Ua+aUb+a²Uc)/3,
U2 = (Ua+a²Ub+aUc)/3 as in docs/standards). It solves the same equations as pandapower's
``runpp_3ph`` for a Dyn-transformer LV feeder (checked in tests/sim/test_powerflow.py).

Speed: power flows are solved to convergence only at the 15-minute operating points; finer
steps start from the interpolated 15-minute solution and apply ``correction_iterations``
fixed-point steps, i.e. the fine-scale deviation of the injections is superposed through the
precomputed impedance model (the linearised sensitivity dV = -Z dI, refined once more).
"""

from __future__ import annotations

import numpy as np

from gridsim.network import Feeder

A = np.exp(2j * np.pi / 3)
# phase = T @ seq (rows a, b, c; columns 0, 1, 2)
T_MAT = np.array([[1, 1, 1], [1, A**2, A], [1, A, A**2]])
T_INV = np.linalg.inv(T_MAT)


def to_seq(x: np.ndarray) -> np.ndarray:
    """Phase -> sequence components along axis 1 (shape (n, 3, ...))."""
    return np.einsum("sp,np...->ns...", T_INV, x)


def to_phase(x: np.ndarray) -> np.ndarray:
    """Sequence -> phase components along axis 1."""
    return np.einsum("ps,ns...->np...", T_MAT, x)


def _step(feeder: Feeder, s: np.ndarray, v: np.ndarray, e: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.conj(s / v)
    i = np.nan_to_num(i)
    i_seq = to_seq(i)
    n, _, t = v.shape
    v_seq = np.empty((n, 3, t), complex)
    v_seq[:, 0] = -feeder.z0 @ i_seq[:, 0]
    v_seq[:, 1] = e[None, :] - feeder.z1 @ i_seq[:, 1]
    v_seq[:, 2] = -feeder.z1 @ i_seq[:, 2]
    return to_phase(v_seq)


def solve(
    feeder: Feeder,
    s_node: np.ndarray,
    e_pu: np.ndarray | float = 1.0,
    v_init: np.ndarray | None = None,
    tol_pu: float = 1e-7,
    max_iter: int = 50,
    iterations: int | None = None,
) -> np.ndarray:
    """Per-phase node voltages (V, complex phase-to-neutral) for given node injections.

    Args:
        feeder: feeder and its impedance model.
        s_node: complex power drawn per node and phase, shape (n_nodes, 3, T), VA, load
            convention (P < 0 is export, e.g. PV). Row 0 (busbar) is normally zero.
        e_pu: source (no-load busbar) voltage, pu of Un, scalar or shape (T,).
        v_init: start values (n_nodes, 3, T); flat start if None.
        tol_pu: convergence tolerance on max |dV| in pu (ignored if ``iterations`` given).
        iterations: fixed number of fixed-point iterations (used for fine-step correction).

    Returns:
        complex array (n_nodes, 3, T) of phase-to-neutral voltages in V.
    """
    un = feeder.un
    n, _, t = s_node.shape
    e = np.broadcast_to(np.asarray(e_pu, float), (t,)) * un + 0j
    if v_init is None:
        v = np.broadcast_to(to_phase(np.stack([np.zeros(t), e, np.zeros(t)])[None])[0], (n, 3, t)).copy()
    else:
        v = v_init.copy()
    n_it = iterations if iterations is not None else max_iter
    for _ in range(n_it):
        v_new = _step(feeder, s_node, v, e)
        delta = np.max(np.abs(v_new - v)) / un if iterations is None else np.inf
        v = v_new
        if delta < tol_pu:
            break
    return v


def solve_timeseries(
    feeder: Feeder,
    s_node: np.ndarray,
    e_pu: np.ndarray,
    steps_per_pf: int = 15,
    correction_iterations: int = 2,
) -> np.ndarray:
    """Voltages at fine steps from converged power flows cached every ``steps_per_pf`` steps.

    Args:
        s_node: (n_nodes, 3, T) complex VA at the fine resolution.
        e_pu: (T,) source voltage in pu.
        steps_per_pf: fine steps per cached power flow (15 at 1-min steps = 15-min PF).
        correction_iterations: fixed-point steps superposing the fine-scale deviation.

    Returns:
        complex voltages (n_nodes, 3, T).
    """
    n, _, t = s_node.shape
    k = steps_per_pf
    tc = int(np.ceil(t / k))
    pad = tc * k - t
    s_pad = np.concatenate([s_node, np.repeat(s_node[:, :, -1:], pad, axis=2)], axis=2)
    e_pad = np.concatenate([e_pu, np.repeat(e_pu[-1:], pad)])
    s_c = s_pad.reshape(n, 3, tc, k).mean(axis=3)
    e_c = e_pad.reshape(tc, k).mean(axis=1)
    v_c = solve(feeder, s_c, e_c)
    # interpolate the cached operating points (block centres) to the fine steps
    x_c = np.arange(tc) * k + (k - 1) / 2.0
    x = np.arange(t)
    w = np.clip(np.interp(x, x_c, np.arange(tc)), 0, tc - 1)
    i0 = np.floor(w).astype(int)
    i1 = np.minimum(i0 + 1, tc - 1)
    f = (w - i0)[None, None, :]
    v0 = v_c[:, :, i0] * (1 - f) + v_c[:, :, i1] * f
    return solve(feeder, s_node, e_pu, v_init=v0, iterations=correction_iterations)


def node_currents(s_node: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Load currents I = conj(S/V) (A, complex), zero where the node is de-energised."""
    with np.errstate(divide="ignore", invalid="ignore"):
        i = np.conj(s_node / v)
    return np.nan_to_num(i, nan=0.0, posinf=0.0, neginf=0.0)


def losses(
    feeder: Feeder, i_node: np.ndarray, v_busbar: np.ndarray, chunk: int = 4096
) -> dict[str, np.ndarray]:
    """Technical losses from the power flow (W).

    Line losses are I²R in the sequence frame, P = 3·Σ_b [r1(|I1|²+|I2|²) + r0|I0|²]
    (equal to Σ_phase I^H R I of the Kron-reduced 4-wire line), per feeder head.
    Transformer load losses ∝ I² (P = R_k Σ_p |I_p|²); no-load (core) losses
    ∝ V²: P_fe·(mean|V|/Un)² (docs/standards "Power").

    Returns:
        dict with ``line_w`` (n_heads, T), ``trafo_load_w`` (T,), ``trafo_core_w`` (T,).
    """
    n_heads = len(feeder.heads)
    t = i_node.shape[2]
    line = np.zeros((n_heads, t))
    pf = feeder.path.astype(float)
    r1 = feeder.branch_z1.real
    r0 = feeder.branch_z0.real
    for a in range(0, t, chunk):
        i_seq = to_seq(i_node[:, :, a : a + chunk])
        ib = np.einsum("bn,nst->bst", pf, i_seq)
        pb = 3 * (
            r1[:, None] * (np.abs(ib[:, 1]) ** 2 + np.abs(ib[:, 2]) ** 2)
            + r0[:, None] * np.abs(ib[:, 0]) ** 2
        )
        for h in range(n_heads):
            line[h, a : a + chunk] = pb[feeder.branch_head == h].sum(axis=0)
    i_tot = i_node.sum(axis=0)  # (3, T)
    trafo_load = feeder.trafo["r_ohm"] * (np.abs(i_tot) ** 2).sum(axis=0)
    vmean = np.abs(v_busbar).mean(axis=0) / feeder.un
    core = feeder.trafo["pfe_w"] * vmean**2
    return {"line_w": line, "trafo_load_w": trafo_load, "trafo_core_w": core}
