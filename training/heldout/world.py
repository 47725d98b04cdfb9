"""The held-out world's LV meter streams (its own physics, noise and cadences).

Not gridsim: no feeder model or power flow, no BDEW profiles. Each meter is a three-phase LV
connection with

* a nominal system drawn from 230 V/50 Hz, 220 V/50 Hz, 240 V/50 Hz, 120 V/60 Hz (120/208 V)
  and 277 V/60 Hz (277/480 V), phase-to-neutral;
* a supply set-point anywhere in 0.95–1.06 pu (tap position and feeder location), a small
  fixed per-phase offset, a slow feeder-driven drift of about ±1 % (an 8-h swing plus an
  Ornstein–Uhlenbeck wander) and the drop its own load causes over the service cable;
* its own load model: a two-peak daily base load with a slow wander plus appliance current
  steps (fridge, microwave, kettle, oven, washing machine: Poisson starts, exponential run
  times), and a power factor per phase that drifts slowly within 0.80–1.0;
* measurement as an IEC 62053 class 0.5 or class 1 meter: a fixed gain error within ±c/2 %,
  random error (σ = c/6 %), resolution 0.1 V, 0.01 A, 1 W, 1 var, 0.01 Hz;
* cadences 1 s and 1 min (the 1-s RMS value at the reading instant) and 15 min (AMI interval
  averages of 30-s values, time-stamped at the interval end); ~1 % of 1-s and 1-min readings
  are dropped at random (irregular cadence).

Injected events, labelled by the physics that was injected (never by thresholding the
measured values):

* IEEE 1159 events (the detector's goal): ``sag`` (one phase to 0.6 pu), ``two_phase_sag``
  (two phases to 0.7 pu), ``swell`` (one phase to 1.15 pu), ``open_phase`` (one phase lost:
  0–0.05 pu, no current), ``undervoltage`` (all phases to 0.88 pu, sustained), ``interruption``
  (all phases below 0.05 pu, no current). Magnitudes are residual voltages in pu of U_n.
* ``neutral_shift``: a floating neutral moves one phase up and another down by 7 % of its
  level — an abnormal state that can stay inside U_n ± 10 % (reported separately).
* ``frozen``: the meter repeats one reading exactly (a stuck sensor, not a voltage anomaly).

Truth beside the readings (``labels``), what the meter does not report exactly: the true
phase voltages (pu), phase currents, total active and reactive power and frequency before
measurement error and sensor faults (15-min: interval averages), each event's start, end and
retained voltage, and an asset register entry, the meter's rated current (its own 98.5th
percentile phase current: the evening appliance peaks overload it now and then).

A reading is an event reading when the event covers its whole measurement (the instant for
1 s / 1 min, the full interval for 15 min); a 15-min interval the event covers only partly is
``transition`` and is left out of both the normal and the event counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

CADENCES_S: tuple[float, ...] = (1.0, 60.0, 900.0)
EVENT_KINDS: tuple[str, ...] = ("sag", "two_phase_sag", "swell", "open_phase", "undervoltage", "interruption")
WITHIN_BAND_KINDS: tuple[str, ...] = ("neutral_shift",)
#: (U_n phase-to-neutral V, f_n Hz) of the systems the meters are drawn from.
SYSTEMS: tuple[tuple[float, float], ...] = (
    (230.0, 50.0),
    (120.0, 60.0),
    (240.0, 50.0),
    (277.0, 60.0),
    (220.0, 50.0),
)
#: Event durations (s) per cadence: (low, high) per kind, long enough that the cadence sees them.
_DURATIONS: dict[float, dict[str, tuple[float, float]]] = {
    1.0: {
        "sag": (3, 20),
        "two_phase_sag": (3, 20),
        "swell": (3, 20),
        "open_phase": (30, 120),
        "undervoltage": (90, 300),
        "interruption": (5, 60),
        "neutral_shift": (60, 300),
    },
    60.0: {
        "sag": (180, 480),
        "two_phase_sag": (180, 480),
        "swell": (180, 480),
        "open_phase": (300, 1200),
        "undervoltage": (600, 1800),
        "interruption": (180, 600),
        "neutral_shift": (600, 1800),
    },
    900.0: {
        "sag": (2700, 5400),
        "two_phase_sag": (2700, 5400),
        "swell": (2700, 5400),
        "open_phase": (3600, 10800),
        "undervoltage": (3600, 10800),
        "interruption": (2700, 5400),
        "neutral_shift": (3600, 10800),
    },
}
#: Stream length (s) per cadence and warm-up before the first event (s).
_DURATION_S = {1.0: 2 * 3600.0, 60.0: 2 * 86400.0, 900.0: 14 * 86400.0}
_WARMUP_S = {1.0: 1800.0, 60.0: 6 * 3600.0, 900.0: 2 * 86400.0}
_BASE_STEP_S = {1.0: 1.0, 60.0: 60.0, 900.0: 30.0}
_FROZEN_READINGS = {1.0: 30, 60.0: 20, 900.0: 8}
START = pd.Timestamp("2026-03-02T00:00:00Z")
#: Appliances: (power W, mean run time s, starts per hour per phase).
_APPLIANCES = (
    (150.0, 900.0, 2.0),
    (1200.0, 120.0, 0.6),
    (2000.0, 150.0, 0.8),
    (3000.0, 1800.0, 0.2),
    (800.0, 3600.0, 0.2),
)


@dataclass
class HeldOutStream:
    """Readings (the feature pipeline's DataFrame columns) and their labels, one row each.

    ``labels`` columns: ``meter_id``, ``timestamp``, ``label`` (normal, an event kind,
    ``frozen`` or ``transition``), ``category`` (normal, ieee1159, within_band, frozen,
    transition), ``event_id`` (−1 outside events), the truth columns ``true_voltage_{a,b,c}_pu``,
    ``true_current_{a,b,c}_a``, ``true_active_power_w``, ``true_reactive_power_var``,
    ``true_frequency_hz``, ``event_start_s``/``event_end_s``/``event_retained_pu`` (NaN outside
    events) and ``rated_current_a`` (the meter's asset register).
    """

    readings: pd.DataFrame
    labels: pd.DataFrame
    cadence_s: float


def _ou(rng: np.random.Generator, n: int, step_s: float, tau_s: float, sigma: float) -> np.ndarray:
    """Ornstein–Uhlenbeck path (stationary σ, time constant τ) sampled every step_s."""
    a = np.exp(-step_s / tau_s)
    e = rng.normal(0.0, sigma * np.sqrt(1 - a * a), n)
    e[0] = rng.normal(0.0, sigma)
    return lfilter([1.0], [1.0, -a], e)


def _appliance_power_w(rng: np.random.Generator, t: np.ndarray, step_s: float) -> np.ndarray:
    """(n,) appliance power of one phase: steps on and off (Poisson starts, exponential runs)."""
    n = len(t)
    steps = np.zeros(n + 1)
    span_h = (t[-1] - t[0] + step_s) / 3600.0
    for power, run_s, rate in _APPLIANCES:
        k = rng.poisson(rate * span_h)
        starts = rng.uniform(t[0], t[-1], k)
        ends = starts + rng.exponential(run_s, k)
        i0 = np.searchsorted(t, starts)
        i1 = np.searchsorted(t, ends)
        np.add.at(steps, i0, power)
        np.add.at(steps, np.minimum(i1, n), -power)
    return np.cumsum(steps)[:n]


def _events(
    rng: np.random.Generator, cadence_s: float, t0: float, duration_s: float
) -> list[tuple[str, float, float, list[int]]]:
    """One event of every kind per meter, shuffled, spread over the stream after the warm-up,
    never overlapping: (kind, start s, end s, affected phases)."""
    kinds = list(EVENT_KINDS + WITHIN_BAND_KINDS)
    rng.shuffle(kinds)
    free0 = t0 + _WARMUP_S[cadence_s]
    slot = (t0 + duration_s - free0) / len(kinds)
    out = []
    for j, kind in enumerate(kinds):
        lo, hi = _DURATIONS[cadence_s][kind]
        d = rng.uniform(lo, hi)
        start = free0 + j * slot + rng.uniform(0.1, 0.9) * max(slot - d, 0.0) * 0.5
        phases = {
            "sag": 1,
            "two_phase_sag": 2,
            "swell": 1,
            "open_phase": 1,
            "neutral_shift": 2,
        }.get(kind, 3)
        out.append((kind, start, start + d, sorted(rng.choice(3, phases, replace=False).tolist())))
    return out


def _daily_shape(t: np.ndarray) -> np.ndarray:
    """Two-peak daily load shape (morning 7:30, evening 19:00), relative units."""
    hour = np.mod(t / 3600.0, 24.0)

    def bump(h0: float, w: float) -> np.ndarray:
        return np.exp(-0.5 * (((hour - h0 + 12) % 24 - 12) / w) ** 2)

    return 0.35 + 0.5 * bump(7.5, 1.3) + 0.9 * bump(19.0, 2.2)


def _loads(
    rng: np.random.Generator, t: np.ndarray, step: float, daily: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) phase active power (W) and power factor: base load with a slow wander plus
    appliance steps; a PF per phase drifting within 0.80–1.0."""
    n = len(t)
    p_w = np.empty((n, 3))
    pf = np.empty((n, 3))
    for ph in range(3):
        base = rng.uniform(200.0, 700.0) * daily * (1 + _ou(rng, n, step, 1800.0, 0.12))
        p_w[:, ph] = np.maximum(base, 20.0) + _appliance_power_w(rng, t, step)
        pf[:, ph] = np.clip(
            rng.uniform(0.88, 0.97)
            + 0.03 * np.sin(2 * np.pi * t / rng.uniform(3, 9) / 3600 + rng.uniform(0, 6.3))
            + _ou(rng, n, step, 3600.0, 0.01),
            0.80,
            1.0,
        )
    return p_w, pf


def _voltage_pu(
    rng: np.random.Generator, t: np.ndarray, step: float, daily: np.ndarray, p_w: np.ndarray
) -> np.ndarray:
    """(n, 3) supply voltage in pu: set-point, per-phase offset, feeder drift and load cycle,
    the service cable's drop under the meter's own load, and 1-s noise."""
    n = len(t)
    setpoint = rng.uniform(0.95, 1.06)
    offset = rng.normal(0.0, 0.004, 3)
    drift = 0.006 * np.sin(2 * np.pi * t / (8 * 3600) + rng.uniform(0, 6.3)) + _ou(
        rng, n, step, 1200.0, 0.002
    )
    feeder = -0.008 * (daily - daily.mean()) / daily.std()  # the feeder's own load cycle
    drop_per_w = rng.uniform(2e-6, 5e-6)  # service-cable drop, pu per W of the phase's load
    noise_sd = 0.0008  # 1-s RMS flicker and noise per base sample, pu
    return (
        setpoint
        + offset[None, :]
        + (drift + feeder)[:, None]
        - drop_per_w * p_w
        + rng.normal(0, noise_sd, (n, 3))
    )


def _inject(
    rng: np.random.Generator, events: list, t: np.ndarray, k: int, v_pu: np.ndarray, p_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Write the events into ``v_pu`` and ``p_w`` (in place); per-sample label and event id."""
    n = len(t)
    label = np.array(["normal"] * n, dtype=object)
    event_id = np.full(n, -1)
    for j, (kind, start, end, phases) in enumerate(events):
        m = (t >= start) & (t < end)
        idx = np.flatnonzero(m)
        cells = np.ix_(idx, phases)
        if kind == "sag":
            v_pu[cells] = 0.6 + rng.normal(0, 0.01, (len(idx), len(phases)))
        elif kind == "two_phase_sag":
            v_pu[cells] = 0.7 + rng.normal(0, 0.01, (len(idx), len(phases)))
        elif kind == "swell":
            v_pu[cells] = 1.15 + rng.normal(0, 0.005, (len(idx), len(phases)))
        elif kind == "open_phase":
            v_pu[cells] = rng.uniform(0.0, 0.05, (len(idx), len(phases)))
            p_w[cells] = 0.0
        elif kind == "undervoltage":
            v_pu[idx] = 0.88 + rng.normal(0, 0.003, (len(idx), 3))
        elif kind == "interruption":
            v_pu[idx] = rng.uniform(0.0, 0.05, (len(idx), 3))
            p_w[idx] = 0.0
        elif kind == "neutral_shift":
            v_pu[np.ix_(idx, phases[:1])] *= 1.07
            v_pu[np.ix_(idx, phases[1:])] *= 0.93
        label[m] = kind
        event_id[m] = k * 100 + j
    return label, event_id


def _sample(
    rng: np.random.Generator,
    cadence_s: float,
    t: np.ndarray,
    step: float,
    vals: dict,
    label: np.ndarray,
    event_id: np.ndarray,
) -> tuple[np.ndarray, dict, np.ndarray, np.ndarray]:
    """Readings from the base samples: snapshots (1 s, 1 min; ~1 % dropped outside events) or
    interval averages stamped at the interval end (15 min; partly covered intervals are
    ``transition``). Returns times, values, labels, event ids."""
    if cadence_s != 900.0:
        keep = rng.random(len(t)) > 0.01
        keep |= label != "normal"
        return t[keep], {key: x[keep] for key, x in vals.items()}, label[keep], event_id[keep]
    per = int(900.0 / step)
    m_int = len(t) // per
    cut = m_int * per

    def avg(x: np.ndarray) -> np.ndarray:
        return x[:cut].reshape(m_int, per, *x.shape[1:]).mean(axis=1)

    lab_rows = label[:cut].reshape(m_int, per)
    eid_rows = event_id[:cut].reshape(m_int, per)
    full = (lab_rows == lab_rows[:, :1]).all(axis=1)
    r_label = np.where(full, lab_rows[:, 0], "transition").astype(object)
    r_event = np.where(full, eid_rows[:, 0], eid_rows.max(axis=1))
    return t[per - 1 : cut : per] + step, {key: avg(x) for key, x in vals.items()}, r_label, r_event


def _freeze(cadence_s: float, vals: dict, r_label: np.ndarray) -> None:
    """A frozen sensor: one run of exact repeats in a normal stretch before the first event
    (in place on ``vals`` and ``r_label``)."""
    nr = len(r_label)
    nf = _FROZEN_READINGS[cadence_s]
    first_event = int(np.argmax(r_label != "normal")) if (r_label != "normal").any() else nr
    s0 = max(int(first_event * 0.6), nf + 2)
    fr = np.arange(s0, min(s0 + nf, first_event))
    if len(fr) and (r_label[fr] == "normal").all():
        for key in vals:
            vals[key][fr] = vals[key][fr[0] - 1]
        r_label[fr] = "frozen"


def _measure(rng: np.random.Generator, acc_class: float, vals: dict, r_label: np.ndarray) -> dict:
    """Measurement by an IEC 62053 class 0.5 / 1 meter: fixed gain error within ±c/2 % on
    voltage, random error σ = c/6 %, resolutions 0.1 V, 0.01 A, 1 W, 1 var, 0.01 Hz; |P|, |Q|
    kept within U·I (the gateway validates it); a frozen run repeats the measured values."""
    gain = 1 + rng.uniform(-acc_class / 200, acc_class / 200)
    sd = acc_class / 600

    def measure(x: np.ndarray, res: float, g: float = 1.0) -> np.ndarray:
        return np.round(x * g * (1 + rng.normal(0, sd, x.shape)) / res) * res

    v_m = measure(vals["v"], 0.1, gain)
    i_m = measure(vals["i"], 0.01)
    p_m = measure(vals["p"], 1.0)
    q_m = measure(vals["q"], 1.0)
    s_max = v_m * i_m
    p_m = np.clip(p_m, -s_max, s_max)
    q_lim = np.sqrt(np.maximum(s_max**2 - p_m**2, 0))
    q_m = np.trunc(np.clip(q_m, -q_lim, q_lim))
    p_m = np.trunc(p_m)
    f_m = np.round(vals["f"] / 0.01) * 0.01
    if (r_label == "frozen").any():
        fz = np.flatnonzero(r_label == "frozen")
        for x in (v_m, i_m, p_m, q_m, f_m):
            x[fz] = x[fz[0] - 1]
    return {"voltage": v_m, "current": i_m, "active_power": p_m, "reactive_power": q_m, "frequency": f_m}


def _category(r_label: np.ndarray) -> np.ndarray:
    """normal / ieee1159 / within_band / frozen / transition per reading."""

    def one(lab: str) -> str:
        if lab in EVENT_KINDS:
            return "ieee1159"
        if lab in WITHIN_BAND_KINDS:
            return "within_band"
        return lab if lab in ("frozen", "transition") else "normal"

    return np.array([one(lab) for lab in r_label], dtype=object)


def _meter(rng: np.random.Generator, meter_id: str, k: int, cadence_s: float, duration_s: float) -> tuple:
    """One meter's readings and labels (the random draws in a fixed order: seeds reproduce)."""
    un, fn = SYSTEMS[k % len(SYSTEMS)]
    acc_class = (0.5, 1.0)[k % 2]
    step = _BASE_STEP_S[cadence_s]
    t0 = START.value / 1e9 + k * 7.0
    t = t0 + np.arange(0.0, duration_s, step)
    daily = _daily_shape(t)
    p_w, pf = _loads(rng, t, step, daily)
    v_pu = _voltage_pu(rng, t, step, daily, p_w)
    f_hz = fn + _ou(rng, len(t), step, 30.0, 0.02)
    events = _events(rng, cadence_s, t0, duration_s)
    label, event_id = _inject(rng, events, t, k, v_pu, p_w)
    v_true = np.maximum(v_pu, 0.0) * un
    q_var = p_w * np.tan(np.arccos(pf))
    i_a = np.where(v_true > 0.2 * un, np.hypot(p_w, q_var) / np.maximum(v_true, 1.0), 0.0)
    vals = {"v": v_true, "i": i_a, "p": p_w, "q": q_var, "f": f_hz}
    t_read, vals, r_label, r_event = _sample(rng, cadence_s, t, step, vals, label, event_id)
    truth = {key: np.array(x, copy=True) for key, x in vals.items()}  # before any sensor fault
    _freeze(cadence_s, vals, r_label)
    measured = _measure(rng, acc_class, vals, r_label)
    ts = pd.to_datetime(np.round(t_read * 1e3).astype(np.int64), unit="ms", utc=True)
    frame: dict = {"meter_id": meter_id, "timestamp": ts}
    for name in ("voltage", "current", "active_power", "reactive_power"):
        for j, ph in enumerate("abc"):
            frame[f"{name}_{ph}"] = measured[name][:, j]
    frame.update(frequency=measured["frequency"], nominal_voltage=un, nominal_frequency=fn)
    labels = {
        "meter_id": meter_id,
        "timestamp": ts,
        "label": r_label,
        "category": _category(r_label),
        "event_id": r_event,
        **_truth_columns(truth, un, events, r_event, k),
        "rated_current_a": _rating_a(i_a),
    }
    return pd.DataFrame(frame), pd.DataFrame(labels)


def _rating_a(i_true_a: np.ndarray) -> float:
    """The meter's asset rating (A): its own 98.5th-percentile phase current, rounded to 0.1 A.

    A tight service fuse or an undersized share of a transformer: the appliance peaks of the
    evening overload it now and then, so overload_risk meets overloads in this world. Drawn
    from the true currents without the stream's random generator (the readings do not change).
    """
    return float(np.round(np.quantile(i_true_a.max(axis=1), 0.985), 1))


def _truth_columns(
    truth: dict[str, np.ndarray], un: float, events: list, r_event: np.ndarray, k: int
) -> dict[str, np.ndarray]:
    """What the world knows that the meter does not report exactly: true (unmeasured) values at
    each reading and, inside events, the event's start, end and retained voltage."""
    v_pu = truth["v"] / un
    cols: dict[str, np.ndarray] = {f"true_voltage_{ph}_pu": v_pu[:, j] for j, ph in enumerate("abc")}
    cols.update({f"true_current_{ph}_a": truth["i"][:, j] for j, ph in enumerate("abc")})
    cols["true_active_power_w"] = truth["p"].sum(axis=1)
    cols["true_reactive_power_var"] = truth["q"].sum(axis=1)
    cols["true_frequency_hz"] = truth["f"]
    start = np.full(len(r_event), np.nan)
    end = np.full(len(r_event), np.nan)
    depth = np.full(len(r_event), np.nan)
    for j, (kind, s0, s1, phases) in enumerate(events):
        m = r_event == k * 100 + j
        start[m], end[m] = s0, s1
        if kind in ("sag", "two_phase_sag", "interruption", "open_phase", "undervoltage") and m.any():
            depth[m] = float(np.median(v_pu[np.ix_(m, phases)].min(axis=1)))
    cols.update(event_start_s=start, event_end_s=end, event_retained_pu=depth)
    return cols


def generate(
    cadence_s: float, n_meters: int = 6, seed: int = 20260, duration_s: float | None = None
) -> HeldOutStream:
    """Readings of ``n_meters`` meters at one cadence (1, 60 or 900 s), time-ordered.

    ``duration_s`` defaults to 2 h (1 s), 2 days (1 min), 14 days (15 min); the first events
    come after a warm-up (30 min, 6 h, 2 days) in which the meters' baselines form.
    """
    if cadence_s not in CADENCES_S:
        raise ValueError(f"cadence_s must be one of {CADENCES_S}, got {cadence_s}")
    rng = np.random.default_rng([seed, int(cadence_s)])
    duration = _DURATION_S[cadence_s] if duration_s is None else float(duration_s)
    parts = [_meter(rng, f"heldout-{int(cadence_s)}s-{k}", k, cadence_s, duration) for k in range(n_meters)]
    readings = pd.concat([p[0] for p in parts], ignore_index=True)
    labels = pd.concat([p[1] for p in parts], ignore_index=True)
    order = np.lexsort((readings["meter_id"].to_numpy(), readings["timestamp"].to_numpy()))
    return HeldOutStream(
        readings.iloc[order].reset_index(drop=True), labels.iloc[order].reset_index(drop=True), cadence_s
    )
