"""Economic dispatch of a feeder's resources as a linear programme (scipy HiGHS).

Resources at the LV busbar (all parameters in `DispatchParams`, documented there):
grid import/export under a time-of-use tariff, a battery with state-of-charge dynamics, a
diesel genset, and a community PV plant that may be curtailed. The feeder's net demand
(the transformer meter's active power, kW, negative when customers' PV exports) must be met
every hour of a 24-h look-ahead.

For each hour t (Δt = 1 h) the variables are imp, exp, dis, ch, gen, pv, spill ≥ 0 and the
energy E_t (kWh) at the end of hour t:

    min Σ_t Δt·(price_t·imp_t − p_exp·exp_t + c_gen·gen_t + c_deg·(ch_t + dis_t) + c_spill·spill_t)
    s.t. imp_t − exp_t − spill_t + dis_t − ch_t + gen_t + pv_t = D_t          (power balance)
         E_t − E_{t−1} − η_c·Δt·ch_t + Δt/η_d·dis_t = 0,  E_0 = SoC_0·E_cap        (SoC dynamics)
         0 ≤ pv_t ≤ A_t,  exp_t ≤ exp_max,  imp_t ≤ imp_max,  dis_t, ch_t ≤ P_bat,
         gen_t ≤ P_gen,  E_min ≤ E_t ≤ E_max,  E_H ≥ E_0 (no free energy from the battery)

`spill` is export beyond the export limit (customers' PV that cannot be curtailed by the
feeder), priced at a penalty so the LP is always feasible. There is no unit commitment
(the genset has no minimum load; documented simplification of an LP).

Forecasts over the look-ahead (documented, deliberately simple): demand = the feeder's typical
hour-of-day profile plus the current deviation from it decaying by 0.8 per hour; PV
availability = clear-sky irradiance (Haurwitz model, solar position from the NOAA/Spencer
approximations) × kWp × performance ratio, since the reading carries no irradiance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import sparse

H = 24  # look-ahead hours
N_VAR = 7  # imp, exp, dis, ch, gen, pv, spill per hour
IMP, EXP, DIS, CH, GEN, PV, SPILL = range(N_VAR)


@dataclass(frozen=True)
class DispatchParams:
    """Resource and tariff parameters (€, kW, kWh). Times of day are UTC hours."""

    dt_h: float = 1.0
    # Time-of-use import tariff €/kWh: off-peak 00–06, peak 16–20, shoulder otherwise.
    price_offpeak: float = 0.12
    price_shoulder: float = 0.24
    price_peak: float = 0.38
    offpeak_hours: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    peak_hours: tuple[int, ...] = (16, 17, 18, 19)
    export_price: float = 0.06  # feed-in €/kWh
    import_max_kw: float = 400.0  # transformer rating (400 kVA at PF ≈ 1)
    export_max_kw: float = 60.0  # DSO export limit at the feeder
    spill_penalty: float = 1.0  # €/kWh of export beyond the limit (infeasibility slack)
    battery_kw: float = 60.0
    battery_kwh: float = 150.0
    soc_min: float = 0.10
    soc_max: float = 0.95
    eta_charge: float = 0.95
    eta_discharge: float = 0.95
    battery_wear: float = 0.02  # €/kWh throughput (degradation)
    genset_kw: float = 50.0
    genset_cost: float = 0.32  # €/kWh fuel + O&M
    pv_kwp: float = 80.0
    pv_performance_ratio: float = 0.85
    latitude: float = 51.0
    longitude: float = 10.0
    demand_decay: float = 0.8  # per hour, persistence of the current deviation from typical
    typical_kw: tuple[float, ...] = field(default_factory=lambda: (40.0,) * 24)

    def tariff(self, hours: np.ndarray) -> np.ndarray:
        price = np.full(hours.shape, self.price_shoulder)
        price[np.isin(hours, self.offpeak_hours)] = self.price_offpeak
        price[np.isin(hours, self.peak_hours)] = self.price_peak
        return price

    def as_dict(self) -> dict:
        return asdict(self)


def clear_sky_ghi(t_s: np.ndarray, lat: float, lon: float) -> np.ndarray:
    """Clear-sky global horizontal irradiance (W/m²), Haurwitz: 1098·cos z·exp(−0.057/cos z).

    Solar position from Spencer's declination and equation of time (≈ 0.5° accuracy);
    `t_s` are UTC epoch seconds.
    """
    t_s = np.asarray(t_s, float)
    day = (t_s / 86400.0) % 365.25
    g = 2 * np.pi * (day - 1) / 365.0
    decl = (
        0.006918
        - 0.399912 * np.cos(g)
        + 0.070257 * np.sin(g)
        - 0.006758 * np.cos(2 * g)
        + 0.000907 * np.sin(2 * g)
        - 0.002697 * np.cos(3 * g)
        + 0.00148 * np.sin(3 * g)
    )
    eot_min = 229.18 * (
        0.000075
        + 0.001868 * np.cos(g)
        - 0.032077 * np.sin(g)
        - 0.014615 * np.cos(2 * g)
        - 0.040849 * np.sin(2 * g)
    )
    utc_h = (t_s % 86400.0) / 3600.0
    solar_h = utc_h + lon / 15.0 + eot_min / 60.0
    hour_angle = np.radians(15.0 * (solar_h - 12.0))
    phi = np.radians(lat)
    cos_z = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)
    cz = np.clip(cos_z, 1e-6, None)
    return np.where(cos_z > 0.01, 1098.0 * cz * np.exp(-0.057 / cz), 0.0)


def forecasts(params: DispatchParams, t_s: np.ndarray, demand_kw: np.ndarray) -> tuple[np.ndarray, ...]:
    """Look-ahead demand D (n, H), PV availability A (n, H), prices (n, H) for decision times.

    Hour 0 of the look-ahead is the current hour, with the measured demand.
    """
    t_s = np.asarray(t_s, float)
    steps = t_s[:, None] + 3600.0 * np.arange(H)[None]
    hours = ((steps % 86400) // 3600).astype(int)
    typical = np.asarray(params.typical_kw)[hours]
    deviation = np.asarray(demand_kw, float) - typical[:, 0]
    d = typical + deviation[:, None] * params.demand_decay ** np.arange(H)[None]
    a = (
        params.pv_kwp
        * params.pv_performance_ratio
        * clear_sky_ghi(steps + 1800.0, params.latitude, params.longitude)
        / 1000.0
    )
    return d, a, params.tariff(hours)


@dataclass
class DispatchResult:
    """First-hour setpoints (kW; battery + = discharging) and the horizon cost (€)."""

    grid_import_kw: float
    battery_kw: float
    genset_kw: float
    pv_curtailment_kw: float
    cost: float
    ok: bool = True


class DispatchLP:
    """The LP's constant structure (matrices built once); `solve` sets the data per state."""

    def __init__(self, params: DispatchParams) -> None:
        self.p = params
        n = N_VAR * H + H  # + energy E_1..E_H
        self.n = n
        self.e0 = N_VAR * H
        rows, cols, vals = [], [], []
        dt = params.dt_h
        for t in range(H):
            base = N_VAR * t
            for var, coef in ((IMP, 1), (EXP, -1), (SPILL, -1), (DIS, 1), (CH, -1), (GEN, 1), (PV, 1)):
                rows.append(t)
                cols.append(base + var)
                vals.append(coef)
            r = H + t
            rows += [r, r, r]
            cols += [self.e0 + t, base + CH, base + DIS]
            vals += [1.0, -params.eta_charge * dt, dt / params.eta_discharge]
            if t > 0:
                rows.append(r)
                cols.append(self.e0 + t - 1)
                vals.append(-1.0)
        self.a_eq = sparse.csr_matrix((vals, (rows, cols)), shape=(2 * H, n))
        ub = np.zeros((H, N_VAR))
        ub[:, IMP] = params.import_max_kw
        ub[:, EXP] = params.export_max_kw
        ub[:, DIS] = params.battery_kw
        ub[:, CH] = params.battery_kw
        ub[:, GEN] = params.genset_kw
        ub[:, SPILL] = np.inf
        self.ub_base = ub.reshape(-1)

    def cost_vector(self, price: np.ndarray) -> np.ndarray:
        p = self.p
        c = np.zeros((H, N_VAR))
        c[:, IMP] = price
        c[:, EXP] = -p.export_price
        c[:, GEN] = p.genset_cost
        c[:, DIS] = p.battery_wear
        c[:, CH] = p.battery_wear
        c[:, SPILL] = p.spill_penalty
        return np.concatenate([c.reshape(-1) * p.dt_h, np.zeros(H)])

    def solve(
        self,
        demand: np.ndarray,
        pv_avail: np.ndarray,
        price: np.ndarray,
        soc0: float,
        fix_first: tuple[float, float] | None = None,
    ) -> DispatchResult:
        """Solve for one state. `fix_first` = (battery_kw, genset_kw) pins hour 0 (evaluation)."""
        from scipy.optimize import linprog

        p = self.p
        e_cap = p.battery_kwh
        e0 = float(np.clip(soc0, p.soc_min, p.soc_max)) * e_cap
        ub = self.ub_base.copy().reshape(H, N_VAR)
        ub[:, PV] = pv_avail
        lb = np.zeros((H, N_VAR))
        if fix_first is not None:
            b, g = fix_first
            lb[0, DIS] = ub[0, DIS] = max(b, 0.0)
            lb[0, CH] = ub[0, CH] = max(-b, 0.0)
            lb[0, GEN] = ub[0, GEN] = g
        e_lb = np.full(H, p.soc_min * e_cap)
        e_ub = np.full(H, p.soc_max * e_cap)
        e_lb[-1] = max(e0, e_lb[-1])  # no net energy taken from the battery over the horizon
        bounds = np.column_stack(
            [np.concatenate([lb.reshape(-1), e_lb]), np.concatenate([ub.reshape(-1), e_ub])]
        )
        b_eq = np.concatenate([demand, np.zeros(H)])
        b_eq[H] = e0  # E_1 − η ch + dis/η = E_0
        res = linprog(self.cost_vector(price), A_eq=self.a_eq, b_eq=b_eq, bounds=bounds, method="highs")
        if res.status != 0:
            return DispatchResult(np.nan, np.nan, np.nan, np.nan, np.nan, ok=False)
        x = res.x[: N_VAR * H].reshape(H, N_VAR)
        return DispatchResult(
            grid_import_kw=float(x[0, IMP] - x[0, EXP] - x[0, SPILL]),
            battery_kw=float(x[0, DIS] - x[0, CH]),
            genset_kw=float(x[0, GEN]),
            pv_curtailment_kw=float(pv_avail[0] - x[0, PV]),
            cost=float(res.fun),
        )


def settle_first_hour(
    params: DispatchParams,
    demand: np.ndarray,
    pv_avail: np.ndarray,
    battery_kw: np.ndarray,
    genset_kw: np.ndarray,
    soc0: np.ndarray,
) -> dict[str, np.ndarray]:
    """Feasible first-hour setpoints from proposed battery/genset power (vectorised).

    Clips the battery to its power and SoC limits over Δt and the genset to [0, P_gen], then
    settles grid and PV by the power balance: import what is missing; export a surplus up to
    the limit, curtail community PV beyond it, spill (penalised) only what PV cannot absorb.
    """
    p = params
    dt = p.dt_h
    e0 = np.clip(soc0, p.soc_min, p.soc_max) * p.battery_kwh
    max_dis = np.minimum(p.battery_kw, (e0 - p.soc_min * p.battery_kwh) * p.eta_discharge / dt)
    max_ch = np.minimum(p.battery_kw, (p.soc_max * p.battery_kwh - e0) / (p.eta_charge * dt))
    b = np.clip(battery_kw, -max_ch, max_dis)
    g = np.clip(genset_kw, 0.0, p.genset_kw)
    net = demand - pv_avail - b - g  # > 0: import needed
    surplus = np.maximum(-net, 0.0)
    export = np.minimum(surplus, p.export_max_kw)
    curtail = np.minimum(surplus - export, pv_avail)
    spill = surplus - export - curtail
    grid = np.maximum(net, 0.0) - export - spill
    return {"grid_import_kw": grid, "battery_kw": b, "genset_kw": g, "pv_curtailment_kw": curtail}


def baseline_cost(
    params: DispatchParams, demand: np.ndarray, pv_avail: np.ndarray, price: np.ndarray
) -> np.ndarray:
    """Horizon cost (€) without optimisation: battery idle, genset off, PV used, curtailed only
    when export exceeds the limit (vectorised over rows of `demand`)."""
    p = params
    net = demand - pv_avail
    imp = np.maximum(net, 0.0)
    surplus = np.maximum(-net, 0.0)
    export = np.minimum(surplus, p.export_max_kw)
    curtail = np.minimum(surplus - export, pv_avail)
    spill = surplus - export - curtail
    return ((price * imp - p.export_price * export + p.spill_penalty * spill) * p.dt_h).sum(axis=-1)
