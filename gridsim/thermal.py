"""Distribution-transformer hot-spot, ageing and failure (IEC 60076-7 / IEEE C57.91).

Thermal model (IEC 60076-7 difference equations, exact exponential update so any step is
stable), ONAN distribution-transformer parameters (IEC 60076-7 Table 4):

    top-oil:  Δθo → Δθor·((1 + R·K²)/(1 + R))^x        with τo = 180 min (k11 = 1)
    winding:  Δθh → Hgr·K^y                             with τw = 4 min  (k21 = 1)
    θh = θa + Δθo + Δθh,  R = 5, x = 0.8, y = 1.6, Δθor = 55 K, Hgr = 23 K

Relative ageing rate V = 2^((θh − 98)/6) (non-upgraded paper); loss of life L = ∫V dt.
Failure: hazard in *equivalent age* A (years of ageing at 98 °C, incl. initial age),
Weibull h = (β/η)(A_eff/η)^(β−1)·dA_eff/dt with A_eff = A + stress damage, where stress
damage accrues from overload hours (K > 1.3), through-faults and overvoltages and grows with
moisture since the last maintenance; maintenance resets stress damage and moisture.
η and β are set so that failures are common enough to learn from (documented in
docs/simulator.md: rates are accelerated relative to real fleets).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gridsim.loads import slp_year


@dataclass(frozen=True)
class ThermalParams:
    """IEC 60076-7 Table 4, ONAN distribution transformer."""

    delta_or: float = 55.0  # top-oil rise at rated load (K)
    hgr: float = 23.0  # hot-spot-to-top-oil gradient at rated load (K)
    r: float = 5.0  # ratio load losses / no-load losses at rated load
    x: float = 0.8  # oil exponent
    y: float = 1.6  # winding exponent
    tau_o_min: float = 180.0
    tau_w_min: float = 4.0


def ageing_rate(theta_h: np.ndarray) -> np.ndarray:
    """Relative ageing rate V = 2^((θh − 98)/6) (IEC 60076-7, non-thermally-upgraded paper)."""
    return np.power(2.0, (np.asarray(theta_h) - 98.0) / 6.0)


def hot_spot(
    k: np.ndarray,
    theta_a: np.ndarray,
    dt_min: float,
    p: ThermalParams = ThermalParams(),
    state: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-oil and hot-spot temperature (°C) for load factor ``k`` and ambient ``theta_a``.

    Args:
        k: load factor K = I/I_rated, shape (T,) or (T, n_units).
        theta_a: ambient (°C), same shape or broadcastable.
        dt_min: step (minutes).
        state: initial (Δθo, Δθh); steady state of the first step if None.
    Returns:
        (theta_top_oil, theta_hot_spot), each shaped like ``k``.
    """
    k = np.asarray(k, float)
    ta = np.broadcast_to(np.asarray(theta_a, float), k.shape)
    do_ss = p.delta_or * ((1 + p.r * k**2) / (1 + p.r)) ** p.x
    dh_ss = p.hgr * k**p.y
    ao = np.exp(-dt_min / p.tau_o_min)
    aw = np.exp(-dt_min / p.tau_w_min)
    do, dh = (do_ss[0].copy(), dh_ss[0].copy()) if state is None else state
    out_o = np.empty_like(k)
    out_h = np.empty_like(k)
    for t in range(k.shape[0]):
        do = do_ss[t] + (do - do_ss[t]) * ao
        dh = dh_ss[t] + (dh - dh_ss[t]) * aw
        out_o[t] = ta[t] + do
        out_h[t] = ta[t] + do + dh
    return out_o, out_h


def fleet_health(
    n_units: int,
    days: int,
    start: pd.Timestamp,
    rng: np.random.Generator,
    horizon_days: int = 30,
    step_min: float = 30.0,
    heat_wave_share: float = 0.15,
    eta_years: float = 55.0,
    beta: float = 3.5,
) -> pd.DataFrame:
    """Simulate a fleet of distribution transformers; one row per transformer-day.

    Loads are BDEW H0/G0 mixes scaled to a random peak load factor (0.5-1.5), with noise,
    ambient = seasonal + diurnal + heat waves. Stress events: through-faults (Poisson),
    overvoltage days, overload hours. Labels: ``failure_within_horizon`` (a failure in the
    next ``horizon_days`` days), ``overload`` (hot-spot > 120 °C or K > 1.5 at any time that
    day, the IEC 60076-7 limits for distribution transformers under normal cyclic loading).

    Returns columns: transformer_id, date, age_years, mean_load_factor, max_load_factor,
    mean_ambient_c, max_top_oil_c, max_hot_spot_c, ageing_hours (∫V dt that day, h),
    loss_of_life_hours (cumulative), through_faults, overvoltage_events, overload_hours,
    days_since_maintenance, maintenance, failure, overload, failure_within_horizon,
    days_to_failure.
    """
    spd = int(round(24 * 60 / step_min))
    t_n = days * spd
    times = start + pd.to_timedelta(np.arange(t_n) * step_min, unit="min")
    prof = slp_year(start.year)
    idx = np.searchsorted(prof.index.asi8, times.tz_convert(None).asi8).clip(0, len(prof) - 1)
    mix = rng.uniform(0.0, 0.5, n_units)
    shape = (1 - mix)[None] * prof.h0.to_numpy()[idx, None] + mix[None] * prof.g0.to_numpy()[idx, None]
    shape = shape / shape.max(axis=0, keepdims=True)
    peak_k = rng.uniform(0.5, 1.5, n_units)
    noise = np.exp(rng.normal(0, 0.08, (t_n, n_units)))
    doy = np.asarray(times.dayofyear)
    hour = np.asarray(times.hour) + np.asarray(times.minute) / 60
    seasonal = 10 - 8.5 * np.cos(2 * np.pi * (doy - 20) / 365.25)
    ambient = (seasonal + 5 * np.sin(2 * np.pi * (hour - 9) / 24))[:, None] + rng.normal(0, 1.0, (1, n_units))
    day = np.arange(t_n) // spd
    hw_days = rng.random(days) < heat_wave_share / 5  # heat waves ~5 days long
    hw = np.convolve(hw_days.astype(float), np.ones(5), mode="full")[:days] > 0
    ambient = ambient + 10.0 * hw[day, None]
    k = shape * peak_k[None] * noise * (1 + 0.25 * hw[day, None])  # AC load in heat waves
    _, th = hot_spot(k, ambient, step_min)
    v = ageing_rate(th)
    dt_h = step_min / 60

    age0 = rng.uniform(0, 45, n_units) * 8766.0  # initial equivalent age (h)
    e_fail = rng.exponential(1.0, n_units)
    rows = []
    a_eq, damage, cum_h = age0.copy(), np.zeros(n_units), np.zeros(n_units)
    moisture = rng.uniform(1.0, 2.0, n_units)
    since_maint = rng.integers(0, 2000, n_units).astype(float)
    eta_h = eta_years * 8766.0
    ids = np.array([f"TX{u:04d}" for u in range(n_units)])
    for d in range(days):
        sl = slice(d * spd, (d + 1) * spd)
        kd, thd, vd = k[sl], th[sl], v[sl]
        ageing = vd.sum(axis=0) * dt_h * moisture
        faults = rng.poisson(0.01 * (1 + 2 * (kd.max(0) > 1.2)), n_units)
        overv = rng.poisson(0.02, n_units)
        ol_h = (kd > 1.3).sum(axis=0) * dt_h
        dmg = (faults * 2000.0 + overv * 300.0 + ol_h * 150.0) * moisture
        a_prev = a_eq + damage
        a_eq = a_eq + ageing
        damage = damage + dmg
        cum_h = cum_h + ageing
        a_new = a_eq + damage
        dh = (a_new / eta_h) ** beta - (a_prev / eta_h) ** beta
        e_fail = e_fail - dh
        failure = e_fail <= 0
        maint = (~failure) & (rng.random(n_units) < 1 / 365)
        rows.append(
            pd.DataFrame(
                {
                    "transformer_id": ids,
                    "date": times[d * spd].normalize(),
                    "age_years": a_eq / 8766.0,
                    "mean_load_factor": kd.mean(0),
                    "max_load_factor": kd.max(0),
                    "mean_ambient_c": ambient[sl].mean(0),
                    "max_top_oil_c": (thd - 23 * kd**1.6).max(0),
                    "max_hot_spot_c": thd.max(0),
                    "ageing_hours": ageing,
                    "loss_of_life_hours": cum_h,
                    "through_faults": faults,
                    "overvoltage_events": overv,
                    "overload_hours": ol_h,
                    "days_since_maintenance": since_maint / 24,
                    "maintenance": maint,
                    "failure": failure,
                    "overload": (thd.max(0) > 120.0) | (kd.max(0) > 1.5),
                }
            )
        )
        # maintenance resets stress damage and moisture; failure -> replaced by a new unit
        damage = np.where(maint | failure, 0.0, damage)
        moisture = np.where(maint | failure, 1.0, np.minimum(moisture + 1 / 365, 3.0))
        since_maint = np.where(maint | failure, 0.0, since_maint + 24)
        a_eq = np.where(failure, 0.0, a_eq)
        cum_h = np.where(failure, 0.0, cum_h)
        e_fail = np.where(failure, rng.exponential(1.0, n_units), e_fail)
    df = pd.concat(rows, ignore_index=True)
    # label: a failure within the next horizon_days days (strictly after this row's day)
    df = df.sort_values(["transformer_id", "date"]).reset_index(drop=True)
    out = []
    for _, g in df.groupby("transformer_id", sort=False):
        f = g.failure.to_numpy()
        d_idx = np.arange(len(g))
        nxt = np.full(len(g), np.inf)
        fail_days = np.flatnonzero(f)
        pos = np.searchsorted(fail_days, d_idx, side="right")
        ok = pos < len(fail_days)
        nxt[ok] = fail_days[pos[ok]] - d_idx[ok]
        out.append(nxt)
    dtf = np.concatenate(out)
    df["days_to_failure"] = dtf
    df["failure_within_horizon"] = dtf <= horizon_days
    df["horizon_days"] = horizon_days
    return df
