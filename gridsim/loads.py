"""Customer demand, rooftop PV, EV charging, air conditioning and ambient temperature.

* Demand: BDEW standard load profiles H0 (households), G0 (commerce), L0 (agriculture) from
  demandlib (15-min, offline), scaled to each customer's annual energy, interpolated to the
  fine step and given per-customer variation: a lognormal AR(1) factor (τ ≈ 10 min) plus
  Poisson appliance switching as rectangular steps (``gridsim.appliances``: kettle, oven,
  washing machine, ... 0.7-3 kW for 2-60 min).
* Customer types (labels for clustering): ``base_load`` (large always-on share, smooth),
  ``peak_shaver`` (home battery clips net demand above 1.5 kW and absorbs PV surplus, ≤3 kW),
  ``flexible`` (EV charging deferred to 23:00+), ``critical`` (G0/L0 business, low PF).
* PV: pvlib Ineichen clear-sky GHI at the feeder's site × a clear-sky-index process (regimes
  clear / mixed / overcast / broken clouds, AR(1) at the fine step, two-state switching with
  cloud enhancement for broken clouds) × performance ratio 0.85, unity power factor.
* EV: 7.4 kW single-phase sessions, 6-20 kWh, arrival ~N(18:30, 2 h) or synchronised
  17:30-19:00 (scenario), deferred for ``flexible`` customers.
* AC: per-K draw above 24 °C, capped at each unit's rating (2-5 kW); heat waves add
  units (``ac_extra_adoption``, portable units bought for the heat).
* Ambient temperature: seasonal mean + diurnal sine + AR(1) day anomaly + scenario offset.

Power factors (lagging, Q > 0, load convention) are drawn per customer: base load from
``customers.power_factor`` (``gridsim.network.PF_RANGE`` by profile), AC 0.80-0.95 per unit;
EV chargers 0.99 (active PFC); appliances by type (``gridsim.appliances``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from gridsim.appliances import appliance_steps
from gridsim.harmonics import SOURCE_TYPES
from gridsim.network import PHASES, Feeder
from gridsim.scenarios import Scenario

_PF = {"h0": 0.97, "g0": 0.93, "l0": 0.90}
_TAN = {k: np.tan(np.arccos(v)) for k, v in _PF.items()}
_TAN_EV = np.tan(np.arccos(0.99))
_PF_AC = (0.80, 0.95)
# harmonic composition of the base load by profile: electronic (SMPS/LED) share range and
# motor-drive share (docs/simulator.md "Harmonics")
_ELECTRONIC_SHARE = {"h0": (0.15, 0.4), "g0": (0.2, 0.4), "l0": (0.05, 0.15)}
_DRIVE_SHARE = {"h0": 0.0, "g0": 0.15, "l0": 0.35}
_AC_RATED_W = (2000.0, 5000.0)
# clear-sky index regimes: (mean, AR std per step) for clear, mixed, overcast, broken
_REGIMES = ((0.97, 0.02), (0.65, 0.18), (0.25, 0.08), (None, None))  # (mean, std)


@dataclass
class CustomerLoads:
    """Per-customer complex power (VA, load convention) and drivers at the fine steps."""

    s: np.ndarray  # (n_customers, T) complex
    p_pv: np.ndarray  # (n_customers, T) W generated (>= 0)
    p_ev: np.ndarray  # (n_customers, T) W EV charging
    p_ac: np.ndarray  # (n_customers, T) W air conditioning
    p_appliance: np.ndarray  # (n_customers, T) W appliance steps
    p_by_source: np.ndarray  # (n_customers, len(SOURCE_TYPES), T) float32 W by harmonic source type
    ambient_c: np.ndarray  # (T,)
    kc: np.ndarray  # (T,) clear-sky index
    pv_bias_phase: str  # phase favoured by unbalanced-PV scenarios


@lru_cache(maxsize=8)
def slp_year(year: int) -> pd.DataFrame:
    """BDEW H0/G0/L0 15-min profiles for ``year`` in kW per 1000 kWh/a (demandlib, offline)."""
    import warnings

    import demandlib.bdew as bdew

    # demandlib 0.2.2 calls warnings.simplefilter("error") inside ElecSlp and never restores
    # it, which turns every later warning of the process into an exception: contain it.
    with warnings.catch_warnings():
        e = bdew.ElecSlp(year, holidays=None)
        df = e.get_scaled_power_profiles({"h0": 1000.0, "g0": 1000.0, "l0": 1000.0})
    return df[["h0", "g0", "l0"]].astype(float)


def slp_at(times: pd.DatetimeIndex, utc_offset_h: int) -> pd.DataFrame:
    """Standard load profiles (kW per MWh/a) at ``times`` (UTC), profiles in local time."""
    local = times.tz_convert(None) + pd.Timedelta(hours=utc_offset_h)
    frames = [slp_year(y) for y in sorted(set(local.year))]
    prof = pd.concat(frames)
    prof = prof[~prof.index.duplicated()]
    # profile values are 15-min means; interpolate at block centres for smooth fine steps
    x = (prof.index + pd.Timedelta(minutes=7.5)).asi8
    return pd.DataFrame({c: np.interp(local.asi8, x, prof[c].to_numpy()) for c in prof}, index=times)


def smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average (edge-padded) so scenario switches ramp, not jump."""
    if width <= 1:
        return x.astype(float)
    k = np.ones(width) / width
    pad = np.pad(x.astype(float), (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(pad, k, mode="valid")


def ambient_temperature(
    times: pd.DatetimeIndex, offset_c: np.ndarray, utc_offset_h: int, rng: np.random.Generator
) -> np.ndarray:
    """Ambient air temperature (°C) for central-European climate plus scenario offset."""
    local_h = (np.asarray(times.hour) + np.asarray(times.minute) / 60 + utc_offset_h) % 24
    doy = np.asarray(times.dayofyear)
    seasonal = 10.0 - 8.5 * np.cos(2 * np.pi * (doy - 20) / 365.25)
    diurnal = 5.0 * np.sin(2 * np.pi * (local_h - 9.0) / 24)
    days = (times - times[0]).days.to_numpy()
    anomaly = lfilter([1.0], [1, -0.7], rng.normal(0, 2.0, days.max() + 2))
    day_frac = (times - times[0]).total_seconds().to_numpy() / 86400.0
    anom = np.interp(day_frac, np.arange(len(anomaly)), anomaly)
    return np.asarray(seasonal + diurnal + anom + offset_c, float)


def clear_sky_index(regime: np.ndarray, dt_s: float, rng: np.random.Generator) -> np.ndarray:
    """Clear-sky index kc at the fine steps for a regime per step (0 clear .. 3 broken)."""
    t = len(regime)
    phi = np.exp(-dt_s / 600.0)
    mu = np.array([r[0] if r[0] is not None else 0.7 for r in _REGIMES])[regime]
    sd = np.array([r[1] if r[1] is not None else 0.0 for r in _REGIMES])[regime]
    dev = lfilter([1.0], [1, -phi], rng.normal(0, 1, t)) * np.sqrt(1 - phi**2)
    kc = mu + sd * dev
    # broken clouds: two-state switching (sun with cloud enhancement / shade), dwell ~4 min
    p_switch = min(1.0, dt_s / 240.0)
    flips = rng.random(t) < p_switch
    state = np.cumsum(flips) % 2
    broken = np.where(state == 0, 1.08, 0.3) + rng.normal(0, 0.03, t)
    kc = np.where(regime == 3, broken, kc)
    return np.clip(kc, 0.05, 1.25)


def _ar_lognormal(n: int, t: int, dt_s: float, sigma: np.ndarray, rng) -> np.ndarray:
    phi = np.exp(-dt_s / 600.0)
    z = lfilter([np.sqrt(1 - phi**2)], [1, -phi], rng.normal(0, 1, (n, t)), axis=1)
    s = sigma[:, None]
    return np.exp(s * z - s**2 / 2)  # mean 1


def simulate_customers(
    feeder: Feeder,
    times: pd.DatetimeIndex,
    scen: list[Scenario],
    block: np.ndarray,
    rng: np.random.Generator,
) -> CustomerLoads:
    """Complex power of every customer at ``times`` under the per-block scenarios.

    Args:
        feeder: feeder with ``customers``.
        times: UTC fine time steps (uniform).
        scen: scenario of each block; ``block`` maps every step to its block.
        rng: random generator (the only source of randomness -> reproducible).
    """
    cust = feeder.customers
    n, t = len(cust), len(times)
    dt_s = float((times[1] - times[0]).total_seconds()) if t > 1 else 60.0
    ramp = max(1, int(3600 / dt_s))
    utc_off = int(round(feeder.location[1] / 15.0))

    def drv(attr: str) -> np.ndarray:
        return smooth(np.array([getattr(s, attr) for s in scen], float)[block], ramp)

    load_scale = drv("load_scale")
    amb = ambient_temperature(times, drv("ambient_offset_c"), utc_off, rng)

    slp = slp_at(times, utc_off)
    prof = np.stack([slp[p].to_numpy() for p in cust.slp_profile])  # kW per MWh/a
    base = prof * (cust.annual_kwh.to_numpy()[:, None] / 1000.0) * 1e3 * load_scale  # W
    ctype = cust.customer_type.to_numpy()
    sigma = np.where(ctype == "base_load", 0.12, np.where(ctype == "critical", 0.15, 0.35))
    p_load = base * _ar_lognormal(n, t, dt_s, sigma, rng)
    always_on = np.where(ctype == "base_load", rng.uniform(300, 600, n), 0.0)
    p_load = p_load * np.where(ctype == "base_load", 0.7, 1.0)[:, None] + always_on[:, None]
    # Poisson appliance switching, rate follows the profile shape (~0.2/h at mean load: with
    # the catalogue's ≈ 0.43 kWh per use, ≈ 85 W on average, the energy of the former model);
    # base-load customers switch less (their variation is in the always-on share)
    rate = 0.2 / 3600 * dt_s * prof / prof.mean(axis=1, keepdims=True)
    rate = rate * np.where(ctype == "base_load", 0.3, 1.0)[:, None]
    p_appl, q_appl, _ = appliance_steps(rate, dt_s, rng)
    q_load = p_load * _base_tan(cust)[:, None] + q_appl
    p_base = p_load
    p_load = p_load + p_appl

    # air conditioning above 24 °C, occupied hours 10-23 local
    local_h = (np.asarray(times.hour) + np.asarray(times.minute) / 60 + utc_off) % 24
    occ = ((local_h >= 10) & (local_h <= 23)).astype(float)
    ac_rated = rng.uniform(*_AC_RATED_W, n)[:, None]
    tan_ac = np.tan(np.arccos(rng.uniform(*_PF_AC, n)))[:, None]
    has_ac = cust.has_ac.to_numpy()[:, None] | (rng.random(n)[:, None] < drv("ac_extra_adoption")[None])
    ac_demand = drv("ac_kw_per_k")[None] * 1e3 * np.clip(amb - 24.0, 0, None)[None]
    p_ac = has_ac * np.minimum(ac_demand, ac_rated) * occ[None]

    # PV
    import pvlib

    lat, lon = feeder.location
    loc = pvlib.location.Location(lat, lon, tz="UTC", altitude=200)
    ghi = loc.get_clearsky(times, model="ineichen")["ghi"].to_numpy()
    probs = np.array([s.cloud_regimes for s in scen], float)
    probs = probs / probs.sum(axis=1, keepdims=True)
    # one regime per block, drawn once per block
    reg_block = np.array([rng.choice(4, p=p) for p in probs])
    kc = clear_sky_index(reg_block[block], dt_s, rng)
    u_pv = rng.random(n)
    pv_scale, pv_extra, pv_bias = drv("pv_scale"), drv("pv_extra_adoption"), drv("pv_phase_bias")
    kwp0 = cust.pv_kwp.to_numpy()[:, None]
    extra_kwp = rng.uniform(3.0, 4.6, n)[:, None]
    kwp = np.where(kwp0 > 0, kwp0, np.where(u_pv[:, None] < pv_extra[None], extra_kwp, 0.0))
    bias_phase = str(rng.choice(PHASES))
    on_bias = (cust.phase.to_numpy() == bias_phase)[:, None]
    phase_gain = np.where(on_bias, 1 + 2 * pv_bias[None], 1 - pv_bias[None])
    p_pv = kwp * pv_scale[None] * phase_gain * (ghi * kc)[None] / 1000.0 * 0.85 * 1e3

    # EV sessions
    p_ev = np.zeros((n, t))
    has_ev = cust.has_ev.to_numpy()
    u_ev = rng.random(n)
    ev_extra = np.array([s.ev_extra_adoption for s in scen])
    ev_sync = np.array([s.ev_evening_sync for s in scen])
    ev_kw = np.array([s.ev_power_kw for s in scen])
    day0 = times[0].normalize()
    t_sec = (times - times[0]).total_seconds().to_numpy()
    off0 = (times[0] - day0).total_seconds()
    n_days = int(np.ceil((t_sec[-1] + off0) / 86400)) + 1
    flexible = ctype == "flexible"
    for d in range(n_days):
        for c in range(n):
            arr_h = rng.normal(18.5, 2.0)
            sync_u, e_kwh, defer = rng.random(), rng.uniform(6, 20), rng.uniform(0, 1.5)
            t_arr = d * 86400 - off0 + (arr_h - utc_off) * 3600
            k = int(np.clip(np.searchsorted(t_sec, t_arr), 0, t - 1))
            b = block[k]
            if not (has_ev[c] or u_ev[c] < ev_extra[b]):
                continue
            if sync_u < ev_sync[b]:
                arr_h = 17.5 + 1.5 * rng.random()
            elif flexible[c]:
                arr_h = 23.0 + defer
            t0 = d * 86400 - off0 + (arr_h - utc_off) * 3600
            t1 = t0 + e_kwh / ev_kw[b] * 3600
            m = (t_sec >= t0) & (t_sec < t1)
            p_ev[c, m] = ev_kw[b] * 1e3

    p_net = p_load + p_ac + p_ev - p_pv
    q_net = q_load + p_ac * tan_ac + p_ev * _TAN_EV
    # peak shavers: battery clips demand above 1.5 kW and absorbs PV surplus (<= 3 kW)
    ps = (ctype == "peak_shaver")[:, None]
    shaved = np.where(p_net > 1500, np.maximum(1500, p_net - 3000), p_net)
    shaved = np.where(shaved < 0, np.minimum(0, shaved + 3000), shaved)
    p_net = np.where(ps, shaved, p_net)
    return CustomerLoads(
        s=p_net + 1j * q_net,
        p_pv=p_pv,
        p_ev=p_ev,
        p_ac=p_ac,
        p_appliance=p_appl,
        p_by_source=power_by_source(cust.slp_profile.to_numpy(), p_base, p_appl, p_ac + p_ev, p_pv, rng),
        ambient_c=amb,
        kc=kc,
        pv_bias_phase=bias_phase,
    )


def power_by_source(
    slp: np.ndarray,
    base_w: np.ndarray,
    appliance_w: np.ndarray,
    drive_w: np.ndarray,
    pv_w: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Each customer's load split by harmonic source type (``SOURCE_TYPES`` order), W.

    Base load: an electronic share per customer (SMPS, LED: ``_ELECTRONIC_SHARE`` by profile),
    a motor-drive share for commerce and farms (``_DRIVE_SHARE``), the rest linear
    (``background``); appliance steps are resistive or motor loads (linear); AC compressors
    and EV chargers are power-electronic drives; PV is the inverter.
    """
    n = len(slp)
    lo = np.array([_ELECTRONIC_SHARE[p][0] for p in slp])
    hi = np.array([_ELECTRONIC_SHARE[p][1] for p in slp])
    elec = rng.uniform(lo, hi)[:, None]
    drive = np.array([_DRIVE_SHARE[p] for p in slp])[:, None]
    out = np.empty((n, len(SOURCE_TYPES), base_w.shape[1]), np.float32)
    parts = {
        "background": base_w * (1 - elec - drive) + appliance_w,
        "six_pulse_drive": base_w * drive + drive_w,
        "smps_led": base_w * elec,
        "pv_inverter": pv_w,
    }
    for c, typ in enumerate(SOURCE_TYPES):
        out[:, c] = np.clip(parts[typ], 0.0, None)
    return out


def _base_tan(cust: pd.DataFrame) -> np.ndarray:
    """tan φ of each customer's base load: its own power factor, else its profile's typical one."""
    if "power_factor" in cust:
        return np.tan(np.arccos(cust.power_factor.to_numpy(float)))
    return np.array([_TAN[p] for p in cust.slp_profile])


def node_injections(feeder: Feeder, s_cust: np.ndarray) -> np.ndarray:
    """Aggregate customer power to (n_nodes, 3, T) by node and phase."""
    cust = feeder.customers
    t = s_cust.shape[1]
    s = np.zeros((feeder.n_nodes, 3, t), complex)
    ph = cust.phase.map({p: i for i, p in enumerate(PHASES)}).to_numpy()
    np.add.at(s, (cust.node.to_numpy(), ph), s_cust)
    return s
