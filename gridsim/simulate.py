"""Timeline simulation of one feeder: loads -> events -> power flow -> meter readings + labels.

Everything random flows from one ``numpy.random.Generator`` seeded by the caller, so a seed
reproduces the data exactly. Scenario drivers switch per ``BLOCK_HOURS`` block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridsim import events as ev
from gridsim.frequency import simulate_frequency, trip_summary
from gridsim.loads import node_injections, simulate_customers
from gridsim.network import PHASES, Feeder
from gridsim.powerflow import node_currents, solve_timeseries
from gridsim.scenarios import BLOCK_HOURS, Scenario, get
from gridsim.setpoints import draw_setpoints, tap_positions

READING_COLUMNS = (
    ["meter_id", "timestamp"]
    + [f"voltage_{p}" for p in PHASES]
    + [f"current_{p}" for p in PHASES]
    + [f"active_power_{p}" for p in PHASES]
    + [f"reactive_power_{p}" for p in PHASES]
    + ["frequency", "nominal_voltage", "nominal_frequency", "ambient_temperature"]
)


@dataclass
class SimResult:
    """Outputs of ``simulate``; arrays are (n_meters, 3, T) unless stated."""

    feeder: Feeder
    times: pd.DatetimeIndex
    scen_names: list[str]
    block: np.ndarray
    v: np.ndarray  # true RMS voltage (V)
    i: np.ndarray  # true RMS current (A)
    p: np.ndarray  # W
    q: np.ndarray  # var
    freq: pd.DataFrame  # 1-s frequency series
    freq_trips: pd.DataFrame
    ambient: np.ndarray  # (T,)
    supplied: np.ndarray  # (n_meters, 3, T) bool
    losses: dict
    s_cust: np.ndarray  # (n_customers, T) complex VA
    node_v: np.ndarray  # (n_nodes, 3, T) complex V
    node_s: np.ndarray  # (n_nodes, 3, T) complex VA
    tap_steps: list = field(default_factory=list)  # (step index, Δpu)
    tap_pu: np.ndarray | None = None  # (T,) busbar set-point at the present tap (pu)
    oscillations: list = field(default_factory=list)  # (i0, i1, node, affected meter mask)
    concentrated: list = field(default_factory=list)  # (i0, i1, node, phase)
    open_phases: list = field(default_factory=list)  # (i0, i1, head, phase)
    rms_events: list = field(default_factory=list)  # (time, RmsEvent, outage_s)
    pv_bias: np.ndarray | None = None  # (T,) unbalanced-PV driver
    pv_bias_phase: str = "a"
    pv_frac: np.ndarray | None = None  # (T,) PV output / installed
    p_by_source: np.ndarray | None = None  # (n_customers, n_source_types, T) W (harmonics)


def _poisson_times(
    rate_per_day: np.ndarray, block: np.ndarray, dt_s: float, rng: np.random.Generator
) -> list[int]:
    """Step indices of events with a per-block Poisson rate (events/day)."""
    out: list[int] = []
    for b in np.unique(block):
        idx = np.flatnonzero(block == b)
        k = rng.poisson(rate_per_day[b] * len(idx) * dt_s / 86400.0)
        out += sorted(rng.choice(idx, size=k).tolist()) if k else []
    return sorted(out)


def meter_quantities(
    feeder: Feeder, v: np.ndarray, s_node: np.ndarray, s_cust: np.ndarray, supplied_node: np.ndarray
) -> tuple:
    """True per-phase |V|, |I|, P, Q at every meter (meters table order)."""
    i_node = node_currents(s_node, v)
    m = feeder.meters
    t = v.shape[2]
    nm = len(m)
    V = np.zeros((nm, 3, t))
    S = np.zeros((nm, 3, t), complex)
    cust = feeder.customers
    for k, row in enumerate(m.itertuples()):
        if row.kind == "transformer":
            V[k] = np.abs(v[0])
            S[k] = v[0] * np.conj(i_node.sum(axis=0))
        elif row.kind == "feeder_head":
            V[k] = np.abs(v[0])
            on = feeder.node_head == row.head
            S[k] = v[0] * np.conj(i_node[on].sum(axis=0))
        else:
            c = cust.loc[row.customer]
            ph = PHASES.index(c.phase)
            V[k] = np.abs(v[row.node])
            S[k, ph] = s_cust[row.customer] * supplied_node[row.node, ph]
    with np.errstate(divide="ignore", invalid="ignore"):
        Im = np.where(V > 1e-6, np.abs(S) / np.where(V > 1e-6, V, 1.0), 0.0)
    return V, Im, S.real, S.imag, i_node


def simulate(
    feeder: Feeder,
    scenarios: list[str | Scenario],
    start: pd.Timestamp,
    step_s: int = 60,
    seed: int = 0,
    rms_events: bool = True,
    setpoint_range_pu: tuple[float, float] | None = None,
    with_losses: bool = True,
) -> SimResult:
    """Simulate ``len(scenarios)`` blocks of ``BLOCK_HOURS`` h at ``step_s`` resolution.

    ``setpoint_range_pu``: draw each block's busbar set-point in this range
    (``gridsim.setpoints``); None keeps ``feeder.settings.source_pu`` throughout.
    ``with_losses`` False skips the loss breakdown (``losses`` = {}), the costliest part
    of a 1-s run.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    scen = [get(s) if isinstance(s, str) else s for s in scenarios]
    n_blocks = len(scen)
    t_n = int(n_blocks * BLOCK_HOURS * 3600 / step_s)
    times = pd.date_range(start, periods=t_n, freq=f"{step_s}s")
    block = (np.arange(t_n) * step_s // (BLOCK_HOURS * 3600)).astype(int)
    un, f0 = feeder.un, feeder.settings.nominal_frequency
    loads = simulate_customers(feeder, times, scen, block, rng)
    s_node = node_injections(feeder, loads.s)

    def rate(attr: str) -> np.ndarray:
        return np.array([getattr(s, attr) for s in scen], float)

    # busbar voltage: set-point and tap position (per block) plus slow MV drift (AR, ±0.5 %)
    from scipy.signal import lfilter

    phi = np.exp(-step_s / 3600.0)
    drift = 0.005 * lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.normal(0, 1, t_n))
    if setpoint_range_pu is None:
        setpoints = np.full(n_blocks, feeder.settings.source_pu)
        rng_pu = (-np.inf, np.inf)
    else:
        setpoints, rng_pu = draw_setpoints(n_blocks, rng, setpoint_range_pu), setpoint_range_pu
    ops = [
        (k, int(rng.uniform(1, 6) * 3600 / step_s), int(rng.choice([-1, 1])))
        for k in _poisson_times(rate("tap_step_rate"), block, step_s, rng)
    ]
    tap_pu, taps = tap_positions(setpoints, block, ops, rng_pu)
    e = tap_pu + drift
    # concentrated single-phase loads (hours) and oscillating (hunting) 3-phase loads
    conc, osc = [], []
    for k in _poisson_times(rate("concentrated_load_rate"), block, step_s, rng):
        node = int(rng.integers(1, feeder.n_nodes))
        ph = int(rng.integers(3))
        dur = int(rng.uniform(1, 6) * 3600 / step_s)
        s_node[node, ph, k : k + dur] += rng.uniform(8e3, 20e3) * (1 + 0.2j)
        conc.append((k, min(t_n, k + dur), node, PHASES[ph]))
    tt = np.arange(t_n) * step_s
    for k in _poisson_times(rate("oscillation_rate"), block, step_s, rng):
        node = int(rng.integers(1, feeder.n_nodes))
        dur = int(rng.uniform(0.5, 2.0) * 3600 / step_s)
        period = rng.uniform(4, 12) * 60
        amp = rng.uniform(15e3, 40e3)
        sl = slice(k, min(t_n, k + dur))
        wave = amp * 0.5 * (1 + np.sign(np.sin(2 * np.pi * tt[sl] / period)))
        s_node[node, :, sl] += (wave / 3 * (1 + 0.3j))[None]
        # affected meters: |ΔV| = |Z(m,node)|·ΔI above 0.5 % of Un (impact, not readings)
        di = amp / 3 / un
        dv = np.abs(feeder.z1[:, node]) * di / un
        osc.append((k, sl.stop, node, dv))
    # open phase at a feeder head
    supplied = np.ones((feeder.n_nodes, 3, t_n), bool)
    opens = []
    for k in _poisson_times(rate("open_phase_rate"), block, step_s, rng):
        h = int(rng.integers(len(feeder.heads)))
        ph = int(rng.integers(3))
        dur = int(rng.uniform(10, 180) * 60 / step_s)
        supplied[feeder.node_head == h, ph, k : k + dur] = False
        opens.append((k, min(t_n, k + dur), h, PHASES[ph]))

    # first power flow (pre-event operating points for RMS events)
    v = solve_timeseries(feeder, s_node * supplied, e, steps_per_pf=max(1, 900 // step_s))
    rms = []
    if rms_events:
        for cause, attr in (
            ("fault", "fault_rate"),
            ("motor_start", "motor_start_rate"),
            ("transformer_energising", "energising_rate"),
            ("upstream_reclose", "reclose_rate"),
        ):
            for k in _poisson_times(rate(attr), block, step_s, rng):
                if np.abs(v[:, :, k]).min() < 1e-6 or not supplied[:, :, k].all():
                    continue  # feeder partly de-energised: no event on top of an outage
                event = ev.make_event(
                    feeder, cause, v[:, :, k], rng, fuse_blow_prob=scen[block[k]].fuse_blow_prob
                )
                t_ev = times[k] + pd.Timedelta(seconds=float(rng.uniform(0, step_s)))
                outage_s = 0.0
                if event.outage_nodes is not None:
                    outage_s = float(rng.uniform(5, 120) * 60)
                    k1 = k + 1 + int(outage_s / step_s)
                    supplied[event.outage_nodes, :, k + 1 : k1] = False
                rms.append((t_ev, event, outage_s))
        if any(r[2] > 0 for r in rms):
            v = solve_timeseries(feeder, s_node * supplied, e, steps_per_pf=max(1, 900 // step_s))
    v = v * supplied
    s_eff = s_node * supplied
    V, Im, P, Q, i_node = meter_quantities(feeder, v, s_eff, loads.s, supplied)
    from gridsim.powerflow import losses as _losses

    loss = _losses(feeder, i_node, v[0]) if with_losses else {}
    m = feeder.meters
    sup_m = np.stack([supplied[row.node] for row in m.itertuples()])
    for k, row in enumerate(m.itertuples()):
        if row.kind == "customer":
            ph = PHASES.index(feeder.customers.phase.at[row.customer])
            sup_m[k] = supplied[row.node, ph][None]

    # frequency at 1 s: its own random stream, so changes to the load and event draws above
    # do not move the trips
    rng = np.random.default_rng(np.random.SeedSequence([seed, 13]))
    n_sec = t_n * step_s
    sec_block = (np.arange(n_sec) // (BLOCK_HOURS * 3600)).astype(int)
    trips = []
    for b, s in enumerate(scen):
        kk = rng.poisson(s.trip_rate * BLOCK_HOURS / 24)
        for _ in range(kk):
            sec = int(b * BLOCK_HOURS * 3600 + rng.uniform(0, BLOCK_HOURS * 3600))
            trips.append((sec, float(rng.uniform(*s.trip_size_pu))))
    freq = simulate_frequency(
        n_sec,
        f0,
        rng,
        noise_mhz=rate("freq_noise_mhz")[sec_block],
        stiffness=rate("freq_stiffness")[sec_block],
        trips=trips,
        start=times[0],
    )
    pv_frac = loads.p_pv.sum(0) / max(1.0, (loads.p_pv.max(axis=1)).sum())
    bias = np.array([s.pv_phase_bias for s in scen])[block]
    return SimResult(
        feeder=feeder,
        times=times,
        scen_names=[s.name for s in scen],
        block=block,
        v=V,
        i=Im,
        p=P,
        q=Q,
        freq=freq,
        freq_trips=trip_summary(freq, trips, f0),
        ambient=loads.ambient_c,
        supplied=sup_m,
        losses=loss,
        s_cust=loads.s,
        node_v=v,
        node_s=s_eff,
        tap_steps=taps,
        tap_pu=tap_pu,
        oscillations=osc,
        concentrated=conc,
        open_phases=opens,
        rms_events=rms,
        pv_bias=bias,
        pv_bias_phase=loads.pv_bias_phase,
        pv_frac=pv_frac,
        p_by_source=loads.p_by_source,
    )
