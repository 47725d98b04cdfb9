"""Reproducible Parquet datasets with a data card.

``generate(profile, seed, out_dir)`` writes, per feeder, ``<out_dir>/<feeder>/``:

readings.parquet, meters.parquet, customers.parquet, voltage_anomaly.parquet,
sensor_faults.parquet, harmonic_windows.npz + harmonic_labels.parquet, frequency.parquet +
frequency_trips.parquet, imbalance.parquet, transformer_health.parquet, loading.parquet,
sag_events.parquet + event_traces.parquet, load_series.parquet, losses.parquet,
instability.parquet — and ``<out_dir>/data_card.md`` / ``data_card.json``.
Column lists are in docs/simulator.md. Same (profile, seed) -> identical files.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

import gridsim
from gridsim import events as ev
from gridsim.cadence import interval_average, interval_starts
from gridsim.harmonics import SOURCE_TYPES, generate_windows, typical_harmonic_current
from gridsim.network import PHASES, TEST_FEEDER, TRAINING_FEEDER, GridSettings, build_feeder
from gridsim.scenarios import BLOCK_HOURS, SCENARIOS
from gridsim.sensors import apply_faults, apply_noise, quantise
from gridsim.setpoints import SETPOINT_RANGE_PU
from gridsim.simulate import READING_COLUMNS, SimResult, simulate
from gridsim.thermal import hot_spot

MIX = [s for s in SCENARIOS if s != "custom"]


@dataclass(frozen=True)
class Profile:
    """Dataset size settings."""

    days: dict  # feeder -> simulated days
    step_s: int = 60
    customer_meters: int = 24
    library_events: int = 150  # extra RMS events drawn at sampled operating points
    harmonic_windows: int = 3000
    fleet_units: int = 60
    fleet_days: int = 365
    setpoint_range_pu: tuple[float, float] = SETPOINT_RANGE_PU  # busbar set-points per block
    fast_hours: int = BLOCK_HOURS  # 1-s readings of the network meters (one block)


PROFILES = {
    "quick": Profile(
        days={TRAINING_FEEDER: 3, TEST_FEEDER: 1},
        customer_meters=16,
        library_events=150,
        harmonic_windows=3000,
        fleet_units=60,
    ),
    "full": Profile(
        days={TRAINING_FEEDER: 21, TEST_FEEDER: 4},
        customer_meters=33,
        library_events=2500,
        harmonic_windows=100_000,
        fleet_units=300,
    ),
}


def _scenario_blocks(days: int, rng: np.random.Generator) -> list[str]:
    n = days * 4
    blocks = list(MIX) * (n // len(MIX) + 1)
    blocks = blocks[: max(n, 1)]
    rng.shuffle(blocks)
    return blocks


def _long(res: SimResult, arrs: dict[str, np.ndarray], meter_rows=None) -> pd.DataFrame:
    """Long table (meter_id, timestamp, ...) from (n_meters, T) arrays."""
    m = res.feeder.meters if meter_rows is None else res.feeder.meters.iloc[meter_rows]
    t = len(res.times)
    out = {
        "meter_id": np.repeat(m.meter_id.to_numpy(), t),
        "timestamp": np.tile(res.times.to_numpy(), len(m)),
    }
    for k, a in arrs.items():
        out[k] = np.asarray(a).reshape(-1)
    return pd.DataFrame(out)


def build_tables(res: SimResult, seed: int, prof: Profile) -> dict[str, pd.DataFrame]:
    """All label tables for one simulated feeder."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 23]))
    fd = res.feeder
    meters = fd.meters
    un, f0 = fd.un, fd.settings.nominal_frequency
    t_n = len(res.times)
    step_s = prof.step_s
    sec = ((res.times - res.times[0]).total_seconds().to_numpy()).astype(int)
    f_true = res.freq.frequency_hz.to_numpy()[sec]

    # --- readings (measured) and sensor faults ---
    v, i, p, q = apply_noise(res.v, res.i, res.p, res.q, rng, meters.accuracy_class.to_numpy())
    rate = np.array([SCENARIOS[s].sensor_fault_rate for s in res.scen_names])[res.block]
    faults = apply_faults(v, i, p, q, rate, step_s, rng)
    ami = _ami_15min(res, (v, i, p, q), step_s)
    v, i, p, q = quantise(v, i, p, q)
    nm = len(meters)
    f_meas = f_true[None] + rng.normal(0, 0.001, (nm, t_n))
    arr = {}
    for k, ph in enumerate(PHASES):
        arr[f"voltage_{ph}"] = v[:, k]
        arr[f"current_{ph}"] = i[:, k]
        arr[f"active_power_{ph}"] = p[:, k]
        arr[f"reactive_power_{ph}"] = q[:, k]
    arr["frequency"] = f_meas
    arr["nominal_voltage"] = np.full((nm, t_n), un)
    arr["nominal_frequency"] = np.full((nm, t_n), f0)
    arr["ambient_temperature"] = np.broadcast_to(res.ambient, (nm, t_n))
    readings = _long(res, arr)[READING_COLUMNS]
    sf = pd.DataFrame(
        [
            (meters.meter_id.iat[m], res.times[k0], res.times[min(k1, t_n) - 1], kind, ph)
            for m, k0, k1, kind, ph in faults
        ],
        columns=["meter_id", "start", "end", "fault_type", "phase"],
    )

    # --- voltage anomaly labels (priority: sensor > interruption > under/over > step > osc) ---
    vpu = res.v / un
    typ = np.full((nm, t_n), "normal", dtype=object)
    osc = np.zeros((nm, t_n), bool)
    for k0, k1, _node, dv in res.oscillations:
        aff = dv[meters.node.to_numpy()] > 0.005
        osc[aff, k0:k1] = True
    typ[osc] = "oscillation"
    for k, _d in res.tap_steps:
        typ[:, k : k + 5] = "step"
    sup = res.supplied.all(axis=1)
    typ[(vpu.min(axis=1) < 0.9) & sup] = "undervoltage"
    typ[(vpu.max(axis=1) > 1.1) & sup] = "overvoltage"
    typ[~res.supplied.any(axis=1) | (~sup & (meters.kind.to_numpy() != "customer")[:, None])] = "interruption"
    typ[~res.supplied.any(axis=1)] = "interruption"
    for m, k0, k1, kind, _ph in faults:
        typ[m, k0:k1] = f"sensor_{kind}"
    va = _long(res, {"anomaly_type": typ, "anomaly": typ != "normal"})

    # --- imbalance labels on 3-phase meters (transformer + feeder heads) ---
    three = np.flatnonzero(meters.kind.to_numpy() != "customer")
    cause = np.full((len(three), t_n), "none", dtype=object)
    crit = np.empty((len(three), t_n), dtype=object)
    crit[:] = np.array(PHASES)[np.argmax(res.i[three], axis=1)]
    heads = meters["head"].to_numpy()[three]
    pv_on = (res.pv_bias > 0.2) & (res.pv_frac > 0.2)
    cause[:, pv_on] = "unbalanced_pv"
    crit[:, pv_on] = res.pv_bias_phase
    for k0, k1, node, ph in res.concentrated:
        rows = (heads == -1) | (heads == fd.node_head[node])
        cause[rows, k0:k1] = "phase_concentrated_load"
        crit[rows, k0:k1] = ph
    for k0, k1, h, ph in res.open_phases:
        rows = (heads == -1) | (heads == h)
        cause[rows, k0:k1] = "open_phase"
        crit[rows, k0:k1] = ph
    pos = {m: r for r, m in enumerate(three)}
    for m, k0, k1, kind, ph in faults:
        if m in pos and kind in ("dropout", "drift"):
            cause[pos[m], k0:k1] = "sensor_fault"
            crit[pos[m], k0:k1] = ph
    # true (physics) unbalance for reference: VUF from phasors (IEC 61000-4-30)
    from gridsim.powerflow import to_seq

    vs = to_seq(res.node_v[0:1])[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        vuf = np.nan_to_num(np.abs(vs[2]) / np.abs(vs[1]) * 100)
    imb = _long(
        res,
        {"cause": cause, "critical_phase": crit, "true_vuf_pct": np.broadcast_to(vuf, (len(three), t_n))},
        three,
    )

    # --- loading (now and 30-60 min ahead) + transformer hot spot ---
    rated = meters.rated_current_a.to_numpy()[three]
    load_pu = res.i[three].max(axis=1) / rated[:, None]
    k30, k60 = int(1800 / step_s), int(3600 / step_s)
    fut = np.full_like(load_pu, np.nan)
    from numpy.lib.stride_tricks import sliding_window_view

    if t_n > k60:
        win = sliding_window_view(load_pu, k60 - k30 + 1, axis=1).max(axis=-1)
        fut[:, : t_n - k60] = win[:, k30 : k30 + t_n - k60]
    cls = np.where(
        np.isnan(fut), "", np.where(fut >= 1.0, "overload", np.where(fut >= 0.8, "high", "normal"))
    )
    _, th = hot_spot(res.i[three[0]].max(axis=0) / rated[0], res.ambient, step_s / 60)
    hs = np.full_like(load_pu, np.nan)
    hs[0] = th
    loading = _long(
        res,
        {
            "loading_pu": load_pu,
            "future_max_loading_pu_30_60min": fut,
            "future_loading_class": cls,
            "hot_spot_c": hs,
        },
        three,
    )
    loading = loading[loading.future_loading_class != ""].reset_index(drop=True)

    # --- losses ---
    lw = res.losses["line_w"]
    tr_rows = {
        "line_loss_w": lw.sum(axis=0),
        "trafo_load_loss_w": res.losses["trafo_load_w"],
        "trafo_core_loss_w": res.losses["trafo_core_w"],
    }
    loss_arr = {k: np.zeros((len(three), t_n)) for k in tr_rows}
    for r, h in enumerate(heads):
        if h == -1:
            for k, a in tr_rows.items():
                loss_arr[k][r] = a
        else:
            loss_arr["line_loss_w"][r] = lw[h]
    loss_arr["total_loss_w"] = sum(loss_arr.values())
    loss_arr["delivered_w"] = res.p[three].sum(axis=1)
    losses = _long(res, loss_arr, three)

    # --- instability outcomes ---
    vout = (vpu.min(axis=1) < 0.85) | (vpu.max(axis=1) > 1.10)
    trip = ~res.supplied.all(axis=1) if True else None
    trip = np.where((meters.kind.to_numpy() == "customer")[:, None], ~res.supplied.any(axis=1), trip)
    fout = np.broadcast_to(np.abs(f_true - f0) > 0.01 * f0, (nm, t_n))
    unstable = vout | trip | fout
    k15 = int(900 / step_s)
    ahead = np.zeros_like(unstable)
    cs = np.concatenate([np.zeros((nm, 1)), np.cumsum(unstable, axis=1)], axis=1)
    idx = np.arange(t_n)
    hi = np.minimum(idx + 1 + k15, t_n)
    ahead = (cs[:, hi] - cs[:, idx + 1]) > 0
    inst = _long(
        res,
        {
            "voltage_out_of_band": vout,
            "protection_trip": trip,
            "frequency_out_of_limits": fout,
            "unstable": unstable,
            "unstable_within_15min": ahead,
        },
    )

    # --- load series (15-min means) for all customers and network meters ---
    k = max(1, 900 // step_s)
    tq = t_n // k
    tq_times = res.times[::k][:tq]
    pc = res.s_cust[:, : tq * k].reshape(len(fd.customers), tq, k).mean(axis=2)
    cust = fd.customers
    ls = [
        pd.DataFrame(
            {
                "meter_id": np.repeat(cust.meter_id.to_numpy(), tq),
                "timestamp": np.tile(tq_times.to_numpy(), len(cust)),
                "active_power_w": pc.real.reshape(-1),
                "reactive_power_var": pc.imag.reshape(-1),
                "kind": "customer",
                "customer_type": np.repeat(cust.customer_type.to_numpy(), tq),
            }
        )
    ]
    pn = res.p[three].sum(axis=1)[:, : tq * k].reshape(len(three), tq, k).mean(axis=2)
    qn = res.q[three].sum(axis=1)[:, : tq * k].reshape(len(three), tq, k).mean(axis=2)
    ls.append(
        pd.DataFrame(
            {
                "meter_id": np.repeat(meters.meter_id.to_numpy()[three], tq),
                "timestamp": np.tile(tq_times.to_numpy(), len(three)),
                "active_power_w": pn.reshape(-1),
                "reactive_power_var": qn.reshape(-1),
                "kind": np.repeat(meters.kind.to_numpy()[three], tq),
                "customer_type": "",
            }
        )
    )
    load_series = pd.concat(ls, ignore_index=True)

    # --- RMS events: timeline + library at sampled operating points ---
    sag_rows, traces = [], []
    ev_list = [(t, e, o, True) for t, e, o in res.rms_events]
    causes = list(ev.CAUSES)
    for _ in range(prof.library_events):
        kk = int(rng.integers(t_n))
        cause_ = causes[int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))]
        if np.abs(res.node_v[:, :, kk]).min() < 1e-3:  # de-energised operating point: skip
            continue
        e = ev.make_event(fd, cause_, res.node_v[:, :, kk], rng)
        t_ev = res.times[kk] + pd.Timedelta(seconds=float(rng.uniform(0, step_s)))
        o = float(rng.uniform(5, 120) * 60) if e.outage_nodes is not None else 0.0
        ev_list.append((t_ev, e, o, False))
    for eid, (t_ev, e, outage_s, on_tl) in enumerate(ev_list):
        _event_rows(res, eid, t_ev, e, outage_s, on_tl, sag_rows, traces, f_true, sec)
    sag = pd.DataFrame(sag_rows)
    tr = pd.concat(traces, ignore_index=True) if traces else pd.DataFrame()

    tables = {
        "readings": readings,
        "readings_15min": ami,
        "voltage_anomaly": va,
        "sensor_faults": sf,
        "imbalance": imb,
        "loading": loading,
        "losses": losses,
        "instability": inst,
        "load_series": load_series,
        "sag_events": sag,
        "event_traces": tr,
        "frequency": res.freq,
        "frequency_trips": res.freq_trips,
        "meters": meters,
        "customers": fd.customers,
    }
    return tables


def _ami_15min(res: SimResult, measured: tuple, step_s: int) -> pd.DataFrame:
    """AMI load-profile readings of the customer meters: 15-min interval averages of the
    measured fine series (``gridsim.cadence``), rounded to the register resolution."""
    meters = res.feeder.meters
    rows = np.flatnonzero(meters.kind.to_numpy() == "customer")
    avg = [interval_average(a[rows], step_s, 900) for a in measured]
    v, i, p, q = quantise(*avg)
    starts = interval_starts(res.times, step_s, 900)
    n = len(starts)
    out = {
        "meter_id": np.repeat(meters.meter_id.to_numpy()[rows], n),
        "timestamp": np.tile(starts.to_numpy(), len(rows)),
    }
    for k, ph in enumerate(PHASES):
        for name, a in (("voltage", v), ("current", i), ("active_power", p), ("reactive_power", q)):
            out[f"{name}_{ph}"] = a[:, k].reshape(-1)
    out["interval_s"] = 900
    return pd.DataFrame(out)


def _fast_readings(fd, scenario: str, start: pd.Timestamp, prof: Profile, seed: int) -> pd.DataFrame:
    """1-s readings of the transformer and feeder-head meters over ``prof.fast_hours``
    (same physics at a 1-s step; class errors and resolution as the 1-min readings)."""
    blocks = [scenario] * max(1, prof.fast_hours // BLOCK_HOURS)
    res = simulate(
        fd,
        blocks,
        start,
        1,
        seed,
        rms_events=False,
        setpoint_range_pu=prof.setpoint_range_pu,
        with_losses=False,
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 29]))
    three = np.flatnonzero(fd.meters.kind.to_numpy() != "customer")
    cls = fd.meters.accuracy_class.to_numpy()[three]
    v, i, p, q = quantise(*apply_noise(res.v[three], res.i[three], res.p[three], res.q[three], rng, cls))
    arr = {}
    for k, ph in enumerate(PHASES):
        arr[f"voltage_{ph}"], arr[f"current_{ph}"] = v[:, k], i[:, k]
        arr[f"active_power_{ph}"], arr[f"reactive_power_{ph}"] = p[:, k], q[:, k]
    f = res.freq.frequency_hz.to_numpy()[: len(res.times)]
    arr["frequency"] = np.broadcast_to(f, v[:, 0].shape) + rng.normal(0, 0.001, v[:, 0].shape)
    arr["nominal_voltage"] = np.full(v[:, 0].shape, fd.un)
    arr["nominal_frequency"] = np.full(v[:, 0].shape, fd.settings.nominal_frequency)
    arr["ambient_temperature"] = np.broadcast_to(res.ambient, v[:, 0].shape)
    return _long(res, arr, three)[READING_COLUMNS]


def _event_rows(res, eid, t_ev, e, outage_s, on_tl, rows, traces, f_true, sec) -> None:
    """Per-meter sag labels and half-cycle RMS traces (IEC 61000-4-30 Urms(½))."""
    fd = res.feeder
    un, f0 = fd.un, fd.settings.nominal_frequency
    traj = ev.node_trajectory(e)  # (K, n_nodes, 3)
    clear_k = int(np.argmax(e.envelope < 1e-9)) if e.envelope.min() < 1e-9 else len(e.envelope)
    if e.outage_nodes is not None:
        traj[clear_k:, e.outage_nodes] = 0.0
    mag = np.abs(traj) / un
    meters = fd.meters
    k_step = int(np.clip(np.searchsorted(res.times, t_ev) - 1, 0, len(res.times) - 1))
    # trace meters: transformer + the two most affected customer meters
    cm = np.flatnonzero(meters.kind.to_numpy() == "customer")
    worst = cm[np.argsort(mag[:, meters.node.to_numpy()[cm]].min(axis=(0, 2)))[:2]]
    trace_meters = [0] + worst.tolist()
    i_node_pre = res.node_s[:, :, k_step]
    for mi, row in enumerate(meters.itertuples()):
        mm = mag[:, row.node]
        vmin, vmax = float(mm.min()), float(mm.max())
        in_out = e.outage_nodes is not None and bool(e.outage_nodes[row.node])
        t_below = float((mm.min(axis=1) < (0.1 if vmin < 0.1 else 0.9)).sum() * e.dt_s)
        if in_out:
            t_below = outage_s
        t_above = float((mm.max(axis=1) > 1.1).sum() * e.dt_s)
        cat = ev.classify_ieee1159(vmin, vmax, t_below, t_above, f0)
        q_ratio = np.nan
        if row.kind != "customer":
            i_pre = np.conj(i_node_pre / np.where(np.abs(e.v_pre) > 0, e.v_pre, 1))
            on = np.ones(fd.n_nodes, bool) if row.head < 0 else fd.node_head == row.head
            peak = int(np.argmax(e.envelope))
            i_pk = (i_pre[on] * traj[peak, on] / np.where(np.abs(e.v_pre[on]) > 0, e.v_pre[on], 1)).sum(0)
            if e.node == 0 or on[e.node]:
                i_pk = i_pk + e.i_event * (e.cause != "upstream_reclose")
            q_pre = (e.v_pre[0] * np.conj(i_pre[on].sum(0))).imag.sum()
            q_pk = (traj[peak, 0] * np.conj(i_pk)).imag.sum()
            q_ratio = float(q_pk / q_pre) if abs(q_pre) > 1 else np.nan
        rows.append(
            {
                "event_id": eid,
                "meter_id": row.meter_id,
                "start": t_ev,
                "cause": e.cause,
                "location_node": e.node,
                "faulted_phases": e.phases,
                "depth_pu": vmin,
                "residual_pu_a": float(mm[:, 0].min()),
                "residual_pu_b": float(mm[:, 1].min()),
                "residual_pu_c": float(mm[:, 2].min()),
                "max_pu": vmax,
                "duration_s": e.duration_s,
                "time_below_0_9pu_s": t_below,
                "ieee1159_category": cat,
                "even_harmonic_pct": float(e.even_harmonic_pu[row.node].max() * 100),
                "reactive_surge_ratio": q_ratio,
                "outage_s": outage_s if in_out else 0.0,
                "on_timeline": on_tl,
            }
        )
        if mi in trace_meters:
            kk = len(e.envelope)
            ts = t_ev + pd.to_timedelta(np.arange(kk) * e.dt_s, unit="s")
            vt = np.abs(traj[:, row.node])
            ratio = np.where(
                np.abs(e.v_pre[row.node]) > 0, vt / np.maximum(np.abs(e.v_pre[row.node]), 1e-9), 0
            )
            if row.kind == "customer":
                ph = PHASES.index(fd.customers.phase.at[row.customer])
                s0 = np.zeros(3, complex)
                s0[ph] = res.s_cust[row.customer, k_step]
                s_t = s0[None] * ratio**2  # constant impedance during the event
            else:
                i_pre = np.conj(i_node_pre / np.where(np.abs(e.v_pre) > 0, e.v_pre, 1))
                i_t = np.einsum("np,knp->kp", i_pre, traj / np.where(np.abs(e.v_pre) > 0, e.v_pre, 1)[None])
                if e.cause != "upstream_reclose":
                    i_t = i_t + e.envelope[:, None] * e.i_event[None]
                s_t = traj[:, 0] * np.conj(i_t)
            it = np.where(vt > 1e-6, np.abs(s_t) / np.maximum(vt, 1e-6), 0)
            fk = f_true[min(sec[k_step], len(f_true) - 1)]
            d = {"event_id": eid, "meter_id": row.meter_id, "timestamp": ts}
            for j, ph in enumerate(PHASES):
                d[f"voltage_{ph}"] = vt[:, j]
                d[f"current_{ph}"] = it[:, j]
                d[f"active_power_{ph}"] = s_t[:, j].real
                d[f"reactive_power_{ph}"] = s_t[:, j].imag
            d.update(
                frequency=fk,
                nominal_voltage=un,
                nominal_frequency=f0,
                ambient_temperature=res.ambient[k_step],
            )
            traces.append(pd.DataFrame(d))


def _harmonics(res: SimResult, n: int, seed: int):
    """Waveform windows at (meter, time) points of the timeline; the source mixture is the
    meter's load composition at that time (``SimResult.p_by_source``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 31]))
    fd = res.feeder
    m = fd.meters
    idx, kk, mix = _balanced_points(res, n, rng)
    nodes = m.node.to_numpy()[idx]
    # the window's fundamental current: the meter's most loaded phase at that step (≥ 1 A,
    # a de-energised meter still sees a small charging / standby current)
    i1 = np.maximum(res.i[idx, :, kk].max(axis=1), 1.0 * 230.0 / fd.un)
    arrays, lab = generate_windows(
        n,
        fd.settings.nominal_frequency,
        fd.un,
        rng,
        fd.z1[nodes, nodes],
        fd.z0[nodes, nodes],
        i1,
        samples_per_cycle=128,
        mix=mix,
    )
    lab.insert(0, "window_id", np.arange(n))
    lab.insert(1, "meter_id", m.meter_id.to_numpy()[idx])
    lab.insert(2, "timestamp", res.times[kk])
    shares = mix / np.maximum(mix.sum(axis=1, keepdims=True), 1e-9)
    lab["source_mix"] = [
        ",".join(f"{t}:{x:.2f}" for t, x in zip(SOURCE_TYPES, row, strict=True)) for row in shares
    ]
    arrays["window_id"] = np.arange(n)
    return arrays, lab


def _balanced_points(res: SimResult, n: int, rng: np.random.Generator):
    """(meter, step) points for ``n`` windows, balanced over the expected dominant source.

    Uniform points are ~90 % SMPS-dominated (electronics dominate LV harmonic currents), too
    few of the other types to learn them; so 20·n uniform candidates are drawn and n/4 kept
    per expected dominant type (share × typical harmonic current), with replacement where a
    type is rare. The label itself is still the synthesised mixture's dominant source.
    """
    m = res.feeder.meters
    nc = 20 * n
    idx = rng.integers(len(m), size=nc)
    kk = rng.integers(len(res.times), size=nc)
    mix = _source_mix(res, idx, kk)
    expected = np.argmax(mix * typical_harmonic_current()[None], axis=1)
    per = np.array_split(np.arange(n), len(SOURCE_TYPES))
    pick = []
    for c, slots in enumerate(per):
        pool = np.flatnonzero(expected == c)
        pool = pool if len(pool) else np.arange(nc)
        pick.append(rng.choice(pool, size=len(slots), replace=len(pool) < len(slots)))
    sel = rng.permutation(np.concatenate(pick))
    return idx[sel], kk[sel], mix[sel]


def _source_mix(res: SimResult, idx: np.ndarray, kk: np.ndarray) -> np.ndarray:
    """(n, n_source_types) load power by source type behind each (meter, step)."""
    fd = res.feeder
    m = fd.meters
    cust = fd.customers
    # membership (n_meters, n_customers): a customer meter sees its customer, a feeder head
    # its feeder's customers, the transformer all of them
    member = np.zeros((len(m), len(cust)))
    for r, row in enumerate(m.itertuples()):
        if row.kind == "customer":
            member[r, row.customer] = 1.0
        else:
            member[r] = (row.head < 0) | (fd.node_head[cust.node.to_numpy()] == row.head)
    # per-meter totals first (n_meters, n_types, T): small, and indexing it is cheap
    pbs = res.p_by_source
    per_meter = (member @ pbs.reshape(len(cust), -1)).reshape(len(m), pbs.shape[1], pbs.shape[2])
    mix = per_meter[idx, :, kk].astype(float)
    mix[mix.sum(axis=1) <= 0, 0] = 1.0  # no load at all: linear (background) only
    return mix


def _card(out: Path, profile: str, seed: int, stats: dict, elapsed: float) -> None:
    card = {
        "generator": "gridsim",
        "generator_version": gridsim.__version__,
        "profile": profile,
        "seed": seed,
        "elapsed_s": round(elapsed, 1),
        "feeders": stats,
    }
    (out / "data_card.json").write_text(json.dumps(card, indent=2, default=str))
    lines = [
        f"# gridsim dataset — profile `{profile}`, seed {seed}",
        "",
        f"Generator: gridsim {gridsim.__version__}; generation time {elapsed:.1f} s.",
        "Physics and label definitions: docs/simulator.md.",
        "",
    ]
    for fname, st in stats.items():
        lines += [
            f"## Feeder `{fname}` ({st['role']})",
            "",
            f"Nominal {st['nominal_voltage']} V / {st['nominal_frequency']} Hz; "
            f"{st['days']} days at {st['step_s']} s; start {st['start']}.",
            "",
            "Scenario mix (6-h blocks): " + ", ".join(f"{k}: {v}" for k, v in st["scenario_blocks"].items()),
            "",
            "| table | rows | label balance |",
            "|---|---|---|",
        ]
        for t, r in st["tables"].items():
            lines.append(f"| {t} | {r['rows']} | {r.get('balance', '')} |")
        lines.append("")
    (out / "data_card.md").write_text("\n".join(lines))


_BALANCE = {
    "voltage_anomaly": "anomaly_type",
    "imbalance": "cause",
    "loading": "future_loading_class",
    "sag_events": "cause",
    "harmonic_labels": "source_type",
    "transformer_health": "failure_within_horizon",
    "instability": "unstable",
    "frequency": "in_trip",
    "customers": "customer_type",
    "sensor_faults": "fault_type",
}


def generate(
    profile: str = "quick",
    seed: int = 0,
    out_dir: str | Path | None = None,
    settings: GridSettings | None = None,
    start: str = "2023-05-15",
) -> Path:
    """Generate a dataset; returns the output directory (default ``data/<profile>``)."""
    t0 = time.time()
    prof = PROFILES[profile]
    out = Path(out_dir or Path("data") / profile)
    out.mkdir(parents=True, exist_ok=True)
    stats = {}
    steps = ["simulate", "tables", "harmonics", "thermal", "write"]
    for fi, (fname, days) in enumerate(prof.days.items()):
        fseed = seed * 101 + fi
        rng = np.random.default_rng(np.random.SeedSequence([fseed, 3]))
        fd = build_feeder(fname, settings, n_customer_meters=prof.customer_meters, seed=fseed)
        blocks = _scenario_blocks(days, rng)
        bar = tqdm(steps, desc=f"{profile}:{fname}", unit="step")
        bar.set_postfix_str("simulate")
        t0_sim = pd.Timestamp(start, tz="UTC")
        res = simulate(fd, blocks, t0_sim, prof.step_s, fseed, setpoint_range_pu=prof.setpoint_range_pu)
        bar.update(1)
        bar.set_postfix_str("tables")
        tables = build_tables(res, fseed, prof)
        if fi == 0:  # 1-s cadence on the training feeder (one block: ~5 s of generation)
            tables["readings_1s"] = _fast_readings(fd, blocks[0], t0_sim, prof, fseed)
        bar.update(1)
        bar.set_postfix_str("harmonics")
        n_h = prof.harmonic_windows if fi == 0 else max(1000, prof.harmonic_windows // 10)
        arrays, hlab = _harmonics(res, n_h, fseed)
        tables["harmonic_labels"] = hlab
        bar.update(1)
        bar.set_postfix_str("thermal")
        from gridsim.thermal import fleet_health

        n_u = prof.fleet_units if fi == 0 else max(20, prof.fleet_units // 5)
        tables["transformer_health"] = fleet_health(
            n_u,
            prof.fleet_days,
            pd.Timestamp(f"{pd.Timestamp(start).year}-01-01", tz="UTC"),
            np.random.default_rng(np.random.SeedSequence([fseed, 41])),
        )
        bar.update(1)
        bar.set_postfix_str("write")
        d = out / fname
        d.mkdir(exist_ok=True)
        for name, df in tables.items():
            df.to_parquet(d / f"{name}.parquet", index=False)
        np.savez(d / "harmonic_windows.npz", **arrays)
        bar.update(1)
        bar.close()
        st = {
            "role": "training" if fname == TRAINING_FEEDER else "generalisation test",
            "days": days,
            "step_s": prof.step_s,
            "start": start,
            "nominal_voltage": fd.un,
            "nominal_frequency": fd.settings.nominal_frequency,
            "scenario_blocks": pd.Series(blocks).value_counts().to_dict(),
            "tables": {},
        }
        for name, df in tables.items():
            r = {"rows": len(df)}
            col = _BALANCE.get(name)
            if col and col in df:
                r["balance"] = "; ".join(f"{k}: {v}" for k, v in df[col].value_counts().items())
            st["tables"][name] = r
        stats[fname] = st
    _card(out, profile, seed, stats, time.time() - t0)
    return out
