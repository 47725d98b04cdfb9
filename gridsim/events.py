"""RMS voltage events by cause, computed from the feeder's impedance model (IEEE 1159-2009).

Every event is a current injection at a location; the voltage change at every node follows
from the common-path impedance (superposition on the pre-event operating point):

    ΔV_m = −Z(m, f) · I_event      (sequence frame, Z from ``gridsim.network``)

* ``fault``: line-to-ground (one phase) or line-to-line (two phases) fault with resistance
  Rf (0-0.6 Ω at 230 V: bolted to high-impedance arcing faults) at a customer node. Fault
  current from the Thevenin impedance at the fault (classical symmetrical-component fault
  equations). Rectangular, lasting the fuse clearing time (3-100 cycles, log-uniform: a fuse
  clears a low fault current slowly, IEC 60269 time-current characteristic). Healthy phases *rise* through the zero-sequence coupling (Z0 > Z1).
  With probability ``fuse_blow_prob`` the feeder-head fuse opens (sustained interruption of
  the feeder), otherwise the customer's service fuse (that node only).
* ``motor_start``: balanced 3-phase direct-on-line start, locked-rotor current 6×In at
  PF 0.3 (reactive surge), decaying as the motor accelerates (τ 0.3-4 s). Motor size is
  chosen so the sag at its own bus is 0.70-0.95 pu.
* ``transformer_energising``: inrush of a neighbouring MV/LV transformer through the MV
  source impedance: unbalanced per phase (remanence), mostly reactive, decaying τ 0.1-2.5 s,
  2nd-harmonic current 10-25 % of the fundamental inrush (even harmonics at the meters).
* ``upstream_reclose``: MV fault cleared by an auto-recloser: momentary interruption of the
  whole feeder (0.2-3 s; residual 0-0.3 pu: motors and inverters back-feed a little).

The causes' depth and duration ranges overlap on purpose (``CAUSE_RANGES``): a
high-impedance fault is as shallow as a motor start, a slow fuse as long as an energising
inrush, so depth and duration alone do not give the cause away (as in real recordings).

During an event loads behave as constant impedance (I ∝ V, P, Q ∝ V²), so P, Q and I move
consistently with V at every meter; feeder-head and transformer meters also carry the event
current when the location is downstream of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridsim.network import Feeder
from gridsim.powerflow import T_INV, T_MAT

CAUSES = ("fault", "motor_start", "transformer_energising", "upstream_reclose")
# Drawn parameter ranges per cause (see the module docstring); the depth / duration they
# produce overlap between causes (tests/sim/test_events.py measures it).
CAUSE_RANGES = {
    "fault": {"rf_ohm_at_230v": (0.0, 0.6), "clearing_cycles": (3.0, 100.0)},
    "motor_start": {"target_pu": (0.70, 0.95), "tau_s": (0.3, 4.0)},
    "transformer_energising": {"target_pu": (0.65, 0.95), "tau_s": (0.1, 2.5)},
    "upstream_reclose": {"duration_s": (0.2, 3.0), "residual_pu": (0.0, 0.3)},
}


@dataclass
class RmsEvent:
    """One RMS event: its cause and the voltage/current trajectory at every node.

    ``v_event`` is the complex node voltage (n_nodes, 3) at the event's peak; the
    trajectory is V(t) = V_pre + g(t)·(V_event − V_pre) with envelope ``g`` sampled every
    half cycle. ``i_event`` (3,) is the event current drawn at ``node`` at the peak.
    ``outage_nodes`` lose supply after the event (blown fuse), ``None`` if none.
    """

    cause: str
    node: int
    phases: str
    v_pre: np.ndarray
    v_event: np.ndarray
    i_event: np.ndarray
    envelope: np.ndarray  # (n_half_cycles,) in [0, 1]
    dt_s: float  # half-cycle
    duration_s: float  # clearing / acceleration / decay time of the cause
    even_harmonic_pu: np.ndarray  # (n_nodes, 3) 2nd-harmonic voltage at the peak, pu of Un
    outage_nodes: np.ndarray | None = None
    size: float = 0.0  # fault current (A) / motor kW / inrush A, for the record


def _z_phase(feeder: Feeder, rows: np.ndarray | slice, col: int) -> np.ndarray:
    """Phase-frame mutual impedance blocks Z(m, col) for nodes ``rows``: (m, 3, 3)."""
    z0 = feeder.z0[rows, col]
    z1 = feeder.z1[rows, col]
    zs = np.zeros((np.size(z0), 3, 3), complex)
    zs[:, 0, 0], zs[:, 1, 1], zs[:, 2, 2] = z0, z1, z1
    return T_MAT[None] @ zs @ T_INV[None]


def _inject(feeder: Feeder, node: int, i_inj: np.ndarray) -> np.ndarray:
    """Voltage change at all nodes (n_nodes, 3) for current ``i_inj`` (3,) drawn at node."""
    z = _z_phase(feeder, slice(None), node)
    return -(z @ i_inj)


def _envelope(n: int, kind: str, on: int, tau: float, dt: float) -> np.ndarray:
    k = np.arange(n)
    g = np.zeros(n)
    if kind == "rect":
        g[(k >= 0) & (k < on)] = 1.0
    else:  # exponential recovery after ``on`` half-cycles at full depth
        g = np.where(k < on, 1.0, np.exp(-(k - on) * dt / tau))
    return g


def make_event(
    feeder: Feeder,
    cause: str,
    v_pre: np.ndarray,
    rng: np.random.Generator,
    fuse_blow_prob: float = 0.5,
    window_s: float = 4.0,
) -> RmsEvent:
    """Draw one RMS event of ``cause`` at the operating point ``v_pre`` (n_nodes, 3) V."""
    f0 = feeder.settings.nominal_frequency
    un = feeder.un
    dt = 0.5 / f0
    n = int(round(window_s / dt))
    cust_nodes = np.arange(1, feeder.n_nodes)
    even = np.zeros_like(v_pre, dtype=float)
    outage = None
    if np.abs(v_pre).min() < 1e-6:
        raise ValueError("pre-event operating point has a de-energised node")
    if cause == "fault":
        node = int(rng.choice(cust_nodes))
        zf = _z_phase(feeder, np.array([node]), node)[0]
        rng_c = CAUSE_RANGES["fault"]
        rf = rng.uniform(*rng_c["rf_ohm_at_230v"]) * (un / 230.0) ** 2
        i = np.zeros(3, complex)
        if rng.random() < 0.7:
            k = int(rng.integers(3))
            i[k] = v_pre[node, k] / (zf[k, k] + rf)
            phases = "abc"[k]
        else:
            j, k = sorted(rng.choice(3, 2, replace=False))
            ill = (v_pre[node, j] - v_pre[node, k]) / (zf[j, j] + zf[k, k] - 2 * zf[j, k] + rf)
            i[j], i[k] = ill, -ill
            phases = "abc"[j] + "abc"[k]
        cycles = float(np.exp(rng.uniform(*np.log(rng_c["clearing_cycles"]))))
        duration = cycles / f0
        env = _envelope(n, "rect", int(round(duration / dt)), 0.0, dt)
        dv = _inject(feeder, node, i)
        if rng.random() < fuse_blow_prob:
            outage = feeder.node_head == feeder.node_head[node]
        else:
            outage = np.zeros(feeder.n_nodes, bool)
            outage[node] = True
        size = float(np.abs(i).max())
    elif cause == "motor_start":
        node = int(rng.choice(cust_nodes))
        target = rng.uniform(*CAUSE_RANGES["motor_start"]["target_pu"])
        z = _z_phase(feeder, np.array([node]), node)[0]
        # balanced locked-rotor current at PF 0.3 lagging, scaled to reach ``target``
        unit = v_pre[node] / np.abs(v_pre[node]) * np.exp(-1j * np.arccos(0.3))
        dv_unit = np.abs(v_pre[node] - z @ unit) - np.abs(v_pre[node])
        scale = (target * un - np.abs(v_pre[node]).mean()) / dv_unit.mean()
        i = unit * max(scale, 0.0)
        size = float(np.abs(i).mean() * 3 * un * 0.85 * 0.9 / 6 / 1e3)  # rated kW
        tau = rng.uniform(*CAUSE_RANGES["motor_start"]["tau_s"])
        env = _envelope(n, "exp", int(round(0.2 / dt)), tau, dt)
        duration = 0.2 + tau * np.log(10)  # until the surge has decayed to 10 %
        dv = _inject(feeder, node, i)
        phases = "abc"
    elif cause == "transformer_energising":
        node = 0
        target = rng.uniform(*CAUSE_RANGES["transformer_energising"]["target_pu"])
        rem = rng.uniform(0.15, 1.0, 3)
        rem[rng.integers(3)] = 1.0
        unit = v_pre[0] / np.abs(v_pre[0]) * np.exp(-1j * np.deg2rad(80)) * rem
        zg = feeder.z1_grid
        scale = (1 - target) * un / np.abs(zg)
        i = unit * scale
        dv = np.broadcast_to(-zg * i, v_pre.shape).copy()
        tau = rng.uniform(*CAUSE_RANGES["transformer_energising"]["tau_s"])
        env = _envelope(n, "exp", 1, tau, dt)
        duration = tau * np.log(10)
        h2 = rng.uniform(0.1, 0.25)
        z2 = abs(zg.real + 2j * zg.imag)
        even = np.broadcast_to(z2 * h2 * np.abs(i) / un, v_pre.shape).copy()
        phases = "abc"
        size = float(np.abs(i).max())
    elif cause == "upstream_reclose":
        node = 0
        dur = rng.uniform(*CAUSE_RANGES["upstream_reclose"]["duration_s"])
        residual = rng.uniform(*CAUSE_RANGES["upstream_reclose"]["residual_pu"])
        dv = v_pre * (residual - 1.0)
        i = np.zeros(3, complex)
        env = _envelope(n, "rect", int(round(dur / dt)), 0.0, dt)
        duration = dur
        phases = "abc"
        size = 0.0
    else:
        raise ValueError(f"unknown cause {cause!r}; choose from {CAUSES}")
    return RmsEvent(
        cause=cause,
        node=node,
        phases=phases,
        v_pre=v_pre,
        v_event=v_pre + dv,
        i_event=i,
        envelope=env,
        dt_s=dt,
        duration_s=float(duration),
        even_harmonic_pu=even,
        outage_nodes=outage,
        size=size,
    )


def classify_ieee1159(v_min_pu: float, v_max_pu: float, t_below_s: float, t_above_s: float, f0: float) -> str:
    """IEEE 1159-2009 Table 2 category of an RMS variation.

    Args:
        v_min_pu / v_max_pu: extreme RMS magnitude (pu of Un) over the event.
        t_below_s: time below 0.9 pu (below 0.1 pu for interruptions); t_above_s: above 1.1.
        f0: nominal frequency (cycle length 1/f0).
    Returns one of: instantaneous_sag, momentary_sag, temporary_sag, undervoltage,
    momentary_interruption, temporary_interruption, sustained_interruption,
    instantaneous_swell, momentary_swell, temporary_swell, overvoltage, none.
    """
    cyc = 1.0 / f0
    if v_min_pu < 0.1 and t_below_s >= 0.5 * cyc:
        if t_below_s <= 3.0:
            return "momentary_interruption"
        return "temporary_interruption" if t_below_s <= 60 else "sustained_interruption"
    if v_min_pu < 0.9 and t_below_s >= 0.5 * cyc:
        if t_below_s <= 30 * cyc:
            return "instantaneous_sag"
        if t_below_s <= 3.0:
            return "momentary_sag"
        return "temporary_sag" if t_below_s <= 60 else "undervoltage"
    if v_max_pu > 1.1 and t_above_s >= 0.5 * cyc:
        if t_above_s <= 30 * cyc:
            return "instantaneous_swell"
        if t_above_s <= 3.0:
            return "momentary_swell"
        return "temporary_swell" if t_above_s <= 60 else "overvoltage"
    return "none"


def node_trajectory(ev: RmsEvent) -> np.ndarray:
    """Complex node voltages over the event window, (n_half_cycles, n_nodes, 3)."""
    return ev.v_pre[None] + ev.envelope[:, None, None] * (ev.v_event - ev.v_pre)[None]
