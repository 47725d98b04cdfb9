"""Standard LV feeders and their per-phase impedance model.

Two feeders from pandapower's bundled (offline) networks:

* ``kerber_dorfnetz`` (training): Kerber "Dorfnetz" village grid, 10/0.4 kV 400 kVA Dyn5
  transformer, 6 cable feeders (NAYY), 57 customers.
* ``ieee_european_lv`` (generalisation tests): IEEE European LV test feeder, 11/0.416 kV
  800 kVA Dyn transformer, one long radial feeder, 55 single-phase customers.

The per-phase physics uses the *common-path impedance* (a.k.a. bus impedance / DLF) model of
a radial network in the sequence frame: the voltage at node i is

    V_i = E - sum_j Z(i, j) I_j,       Z(i, j) = Z_src + sum of branch impedances shared by
                                                  the paths source->i and source->j

for positive, negative (= positive for lines and transformers) and zero sequence separately.
Lines are modelled by their sequence impedances (r, x, r0, x0) exactly as pandapower's
``runpp_3ph`` does (Kron-reduced 4-wire line, neutral grounded at the transformer), so the
phase-frame matrix is Zs = (Z0 + 2 Z1)/3 on the diagonal and Zm = (Z0 - Z1)/3 off it.
The source is the MV Thevenin impedance (positive sequence only; a Dyn transformer blocks MV
zero sequence) plus the transformer short-circuit impedance (IEC 60076-1: Zk = uk Un^2 / Sn).

Nominal voltage and frequency are settings (``GridSettings``). A feeder built for a
nominal other than the network's native one is rescaled *per-unit preserving*: impedances
are multiplied by (Un/Un_native)^2, reactances additionally by f/f_native, current ratings by
Un_native/Un. 230 V/50 Hz and 120 V/60 Hz (and anything else) therefore behave alike in pu.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

FEEDERS = ("kerber_dorfnetz", "ieee_european_lv")
TRAINING_FEEDER = "kerber_dorfnetz"
TEST_FEEDER = "ieee_european_lv"
CUSTOMER_TYPES = ("base_load", "peak_shaver", "flexible", "critical")
PHASES = ("a", "b", "c")

_PREFIX = {"kerber_dorfnetz": "dorf", "ieee_european_lv": "ieee"}
# Site location used for the PV clear-sky model (latitude, longitude in degrees).
_LOCATION = {"kerber_dorfnetz": (51.0, 10.0), "ieee_european_lv": (52.5, -1.5)}
# Zero-sequence / phase impedance ratio assumed where the network lacks r0/x0 data: for a
# 4-core cable with a full-size neutral Z0 ~ Z_phase + 3 Z_neutral ~ 4 Z1.
_Z0_OVER_Z1 = 4.0
# MV short-circuit power (MVA) and R/X assumed where the network does not state them.
_DEFAULT_S_SC_MVA = 100.0
_DEFAULT_RX = 0.1
# Transformer rating (MVA) used instead of the network's own: sized like a rural utility
# would for today's load (IEC 60076-1 R10 sizes 200 and 250 kVA), so the EV-evening and heat-wave
# scenarios overload it (docs/simulator.md, "Transformer sizing"; measured there).
_TRAFO_SN_MVA = {"kerber_dorfnetz": 0.2, "ieee_european_lv": 0.25}
# Displacement power factor of each customer's base load, drawn per customer (lagging):
# (low, high) of a uniform draw by standard load profile (households are mostly resistive and
# electronic; commerce and farms have motors).
PF_RANGE = {"h0": (0.92, 0.995), "g0": (0.85, 0.97), "l0": (0.78, 0.93)}


@dataclass(frozen=True)
class GridSettings:
    """Per-meter nominal values.

    Attributes:
        nominal_voltage: phase-to-neutral nominal RMS voltage Un (V), e.g. 230 or 120.
        nominal_frequency: nominal system frequency f0 (Hz), e.g. 50 or 60.
        source_pu: no-load LV busbar voltage set by the transformer tap (pu of Un); utilities
            typically set +2..3 % so the far end stays inside EN 50160 under load.
    """

    nominal_voltage: float = 230.0
    nominal_frequency: float = 50.0
    source_pu: float = 1.02


@dataclass
class Feeder:
    """A feeder: pandapower net + metadata + sequence-frame common-path impedance model.

    Node 0 is the LV busbar (transformer secondary); nodes 1.. are the customer buses.
    All impedances in ohm, referred to the LV side, per phase (wye equivalent).
    """

    name: str
    net: object
    settings: GridSettings
    node_bus: np.ndarray  # pandapower bus index of every node
    z1: np.ndarray  # (n_nodes, n_nodes) complex, positive-sequence common-path impedance
    z0: np.ndarray  # (n_nodes, n_nodes) complex, zero-sequence common-path impedance
    z1_grid: complex  # MV Thevenin impedance referred to LV (positive sequence)
    z_trafo: complex  # transformer short-circuit impedance (LV side)
    path: np.ndarray  # (n_branches, n_nodes) bool: branch b lies on path source -> node
    branch_line: np.ndarray  # pandapower line index of every branch
    branch_z1: np.ndarray  # complex ohm
    branch_z0: np.ndarray
    branch_head: np.ndarray  # feeder-head number (0..n_heads-1) of every branch
    node_head: np.ndarray  # feeder-head number of every node (-1 for the busbar)
    heads: pd.DataFrame  # head, line, rated_current_a
    customers: pd.DataFrame  # one row per customer (see build_feeder)
    meters: pd.DataFrame  # one row per meter (see build_feeder)
    trafo: dict = field(default_factory=dict)  # sn_va, r_ohm, x_ohm, pfe_w, rated_current_a
    location: tuple[float, float] = (51.0, 10.0)

    @property
    def n_nodes(self) -> int:
        return len(self.node_bus)

    @property
    def prefix(self) -> str:
        return _PREFIX[self.name]

    @property
    def un(self) -> float:
        """Nominal phase-to-neutral voltage (V)."""
        return self.settings.nominal_voltage

    def downstream(self, node: int) -> np.ndarray:
        """Boolean mask of nodes whose supply path passes through ``node``."""
        if node == 0:
            return np.ones(self.n_nodes, bool)
        on_path = self.path[:, node]
        # a node j is downstream of `node` iff every branch on path(node) is on path(j)
        return self.path[on_path].all(axis=0)


@lru_cache(maxsize=4)
def _native_net(name: str):
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "kerber_dorfnetz":
            return pn.create_kerber_dorfnetz()
        if name == "ieee_european_lv":
            return pn.ieee_european_lv_asymmetric("on_peak_566")
    raise ValueError(f"unknown feeder {name!r}; choose from {FEEDERS}")


def _prepare_net(name: str, settings: GridSettings):
    """Copy of the native net, made runpp_3ph-ready and rescaled to the nominal settings."""
    net = copy.deepcopy(_native_net(name))
    lv_bus = int(net.trafo.lv_bus.iloc[0])
    vn_native_ll = float(net.bus.vn_kv.at[lv_bus]) * 1e3
    un_native = vn_native_ll / np.sqrt(3.0)
    f_native = float(getattr(net, "f_hz", 50.0) or 50.0)
    kz = (settings.nominal_voltage / un_native) ** 2
    kx = kz * settings.nominal_frequency / f_native
    ki = un_native / settings.nominal_voltage

    line = net.line
    if "r0_ohm_per_km" not in line or line["r0_ohm_per_km"].isna().all():
        line["r0_ohm_per_km"] = _Z0_OVER_Z1 * line.r_ohm_per_km
        line["x0_ohm_per_km"] = _Z0_OVER_Z1 * line.x_ohm_per_km
        line["c0_nf_per_km"] = line.c_nf_per_km
    line["r_ohm_per_km"] *= kz
    line["r0_ohm_per_km"] *= kz
    line["x_ohm_per_km"] *= kx
    line["x0_ohm_per_km"] *= kx
    line["max_i_ka"] *= ki
    lv_mask = net.bus.vn_kv < 1.0
    net.bus.loc[lv_mask, "vn_kv"] = settings.nominal_voltage * np.sqrt(3.0) / 1e3
    net.trafo["vn_lv_kv"] = settings.nominal_voltage * np.sqrt(3.0) / 1e3
    net.f_hz = settings.nominal_frequency
    eg = net.ext_grid
    for col, val in (
        ("s_sc_max_mva", _DEFAULT_S_SC_MVA),
        ("rx_max", _DEFAULT_RX),
        ("r0x0_max", _DEFAULT_RX),
        ("x0x_max", 1.0),
    ):
        if col not in eg or eg[col].isna().all():
            eg[col] = val
    eg["vm_pu"] = 1.0
    tr = net.trafo
    for col, src in (("vk0_percent", "vk_percent"), ("vkr0_percent", "vkr_percent")):
        if col not in tr or tr[col].isna().all():
            tr[col] = tr[src]
    for col, val in (("mag0_percent", 100.0), ("mag0_rx", 0.0), ("si0_hv_partial", 0.9)):
        if col not in tr or tr[col].isna().all():
            tr[col] = val
    if name in _TRAFO_SN_MVA:
        # uk and ukr stay (per unit), so the short-circuit impedance scales with 1/Sn
        scale = _TRAFO_SN_MVA[name] / float(tr.sn_mva.iat[0])
        tr["sn_mva"] = _TRAFO_SN_MVA[name]
        if "pfe_kw" in tr:
            tr["pfe_kw"] = tr.pfe_kw * scale
    tr["vector_group"] = "Dyn"
    tr["shift_degree"] = 0.0
    return net, lv_bus


def _tree(net, lv_bus: int) -> tuple[dict[int, int], dict[int, int]]:
    """Parent bus and parent line of every LV bus (BFS from the busbar; radial feeders)."""
    adj: dict[int, list[tuple[int, int]]] = {}
    for idx, fb, tb in zip(net.line.index, net.line.from_bus, net.line.to_bus, strict=False):
        if not net.line.in_service.at[idx]:
            continue
        adj.setdefault(int(fb), []).append((int(tb), int(idx)))
        adj.setdefault(int(tb), []).append((int(fb), int(idx)))
    parent_bus, parent_line = {lv_bus: -1}, {lv_bus: -1}
    queue = [lv_bus]
    while queue:
        nxt = []
        for b in queue:
            for nb, li in adj.get(b, []):
                if nb not in parent_bus:
                    parent_bus[nb], parent_line[nb] = b, li
                    nxt.append(nb)
        queue = nxt
    return parent_bus, parent_line


def _customers(name: str, net, rng: np.random.Generator) -> pd.DataFrame:
    """Customers with phase, standard load profile, type, annual energy and DER flags."""
    if name == "ieee_european_lv":
        al = net.asymmetric_load
        p = al[["p_a_mw", "p_b_mw", "p_c_mw"]].to_numpy()
        phase = np.array(PHASES)[np.argmax(p, axis=1)]
        buses = al.bus.to_numpy()
    else:
        buses = net.load.bus.to_numpy()
        # utilities try to spread single-phase customers, but imperfectly
        phase = rng.choice(PHASES, size=len(buses), p=[0.38, 0.33, 0.29])
    n = len(buses)
    ctype = rng.choice(CUSTOMER_TYPES, size=n, p=[0.3, 0.2, 0.35, 0.15])
    slp = np.where(ctype == "critical", rng.choice(["g0", "l0"], size=n, p=[0.7, 0.3]), "h0")
    annual = np.where(slp == "h0", rng.lognormal(np.log(3500), 0.35, n), rng.lognormal(np.log(9000), 0.4, n))
    pv_kwp = np.where(rng.random(n) < 0.35, rng.uniform(3.0, 4.6, n), 0.0)
    has_ev = (ctype == "flexible") & (rng.random(n) < 0.5) | (rng.random(n) < 0.08)
    has_battery = ctype == "peak_shaver"
    has_ac = rng.random(n) < 0.3
    return pd.DataFrame(
        {
            "customer": np.arange(n),
            "bus": buses.astype(int),
            "phase": phase,
            "customer_type": ctype,
            "slp_profile": slp,
            "annual_kwh": annual.round(0),
            "pv_kwp": pv_kwp.round(2),
            "has_ev": has_ev,
            "has_battery": has_battery,
            "has_ac": has_ac,
        }
    )


def _power_factors(slp: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Base-load displacement power factor per customer, uniform in its profile's range."""
    lo = np.array([PF_RANGE[p][0] for p in slp])
    hi = np.array([PF_RANGE[p][1] for p in slp])
    return rng.uniform(lo, hi).round(4)


def _accuracy_classes(kind: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """IEC 62053 class index per meter: CT-operated network meters class 0.5 (-22, 0.5S);
    customer meters class 1 (-21) for 60 %, class 0.5 for the rest (newer installations)."""
    return np.where((kind == "customer") & (rng.random(len(kind)) < 0.6), 1.0, 0.5)


def build_feeder(
    name: str = TRAINING_FEEDER,
    settings: GridSettings | None = None,
    n_customer_meters: int | None = None,
    seed: int = 0,
) -> Feeder:
    """Build a feeder: pandapower net, customers, meters and the impedance model.

    Args:
        name: ``"kerber_dorfnetz"`` (training) or ``"ieee_european_lv"`` (generalisation).
        settings: nominal voltage/frequency (default 230 V / 50 Hz).
        n_customer_meters: how many customer connection points carry a meter (default all).
        seed: seeds customer attributes (phase where not given by the network, type, PV, EV).

    Returns:
        ``Feeder``. ``feeder.net`` is a pandapower net rescaled to the settings, with
        zero-sequence data filled in so ``pandapower.runpp_3ph`` runs on it.
        ``feeder.customers`` columns: customer, bus, phase, customer_type, slp_profile,
        annual_kwh, pv_kwp, has_ev, has_battery, has_ac, power_factor, node, meter_id,
        metered.
        ``feeder.meters`` columns: meter_id, kind (transformer | feeder_head | customer),
        node, head, customer, rated_current_a, nominal_voltage, nominal_frequency,
        accuracy_class (IEC 62053 class index, %).
    """
    settings = settings or GridSettings()
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7, FEEDERS.index(name)]))
    net, lv_bus = _prepare_net(name, settings)
    parent_bus, parent_line = _tree(net, lv_bus)

    cust = _customers(name, net, rng)
    node_bus = np.concatenate([[lv_bus], np.unique(cust.bus.to_numpy())])
    node_of_bus = {int(b): i for i, b in enumerate(node_bus)}
    cust["node"] = cust.bus.map(node_of_bus).astype(int)

    # branches = lines on any path busbar -> customer node
    paths: list[list[int]] = []
    for b in node_bus:
        p, cur = [], int(b)
        while parent_line[cur] != -1:
            p.append(parent_line[cur])
            cur = parent_bus[cur]
        paths.append(p)
    branch_line = np.array(sorted({li for p in paths for li in p}), dtype=int)
    bidx = {li: k for k, li in enumerate(branch_line)}
    path = np.zeros((len(branch_line), len(node_bus)), bool)
    for j, p in enumerate(paths):
        path[[bidx[li] for li in p], j] = True

    ln = net.line.loc[branch_line]
    length = ln.length_km.to_numpy(float) / ln.parallel.to_numpy(float)
    bz1 = (ln.r_ohm_per_km.to_numpy(float) + 1j * ln.x_ohm_per_km.to_numpy(float)) * length
    bz0 = (ln.r0_ohm_per_km.to_numpy(float) + 1j * ln.x0_ohm_per_km.to_numpy(float)) * length

    # source: MV Thevenin + transformer short-circuit impedance, referred to LV (ohm)
    vll = settings.nominal_voltage * np.sqrt(3.0)
    eg = net.ext_grid.iloc[0]
    rx = float(eg.rx_max)
    zg = vll**2 / (float(eg.s_sc_max_mva) * 1e6)
    z1_grid = zg * (rx + 1j) / np.hypot(rx, 1.0)
    tr = net.trafo.iloc[0]
    sn = float(tr.sn_mva) * 1e6
    zk = float(tr.vk_percent) / 100 * vll**2 / sn
    rk = float(tr.vkr_percent) / 100 * vll**2 / sn
    z_trafo = rk + 1j * np.sqrt(max(zk**2 - rk**2, 0.0))
    zk0 = float(tr.vk0_percent) / 100 * vll**2 / sn
    rk0 = float(tr.vkr0_percent) / 100 * vll**2 / sn
    z0_trafo = rk0 + 1j * np.sqrt(max(zk0**2 - rk0**2, 0.0))

    pf = path.astype(float)
    z1 = (z1_grid + z_trafo) + pf.T @ (bz1[:, None] * pf)
    z0 = z0_trafo + pf.T @ (bz0[:, None] * pf)

    lb = net.line.loc[branch_line]
    head_lines = sorted(
        int(li)
        for li, fb, tb in zip(branch_line, lb.from_bus, lb.to_bus, strict=False)
        if lv_bus in (int(fb), int(tb))
    )
    branch_head = np.full(len(branch_line), -1)
    node_head = np.full(len(node_bus), -1)
    for h, li in enumerate(head_lines):
        on = path[bidx[li]]
        node_head[on] = h
        branch_head[path[:, on].any(axis=1)] = h
    heads = pd.DataFrame(
        {
            "head": np.arange(len(head_lines)),
            "line": head_lines,
            "rated_current_a": net.line.loc[head_lines, "max_i_ka"].to_numpy() * 1e3,
        }
    )

    rated_i_trafo = sn / (3 * settings.nominal_voltage)
    trafo = {
        "sn_va": sn,
        "r_ohm": z_trafo.real,
        "x_ohm": z_trafo.imag,
        "pfe_w": float(tr.pfe_kw) * 1e3 if float(tr.pfe_kw) > 0 else 0.0025 * sn,
        "rated_current_a": rated_i_trafo,
    }

    pre = _PREFIX[name]
    cust["meter_id"] = [f"{pre}-C{c:03d}" for c in cust.customer]
    n_cm = len(cust) if n_customer_meters is None else min(n_customer_meters, len(cust))
    metered = np.zeros(len(cust), bool)
    metered[np.sort(rng.choice(len(cust), n_cm, replace=False))] = True
    cust["metered"] = metered

    rows = [
        {
            "meter_id": f"{pre}-TR",
            "kind": "transformer",
            "node": 0,
            "head": -1,
            "customer": -1,
            "rated_current_a": rated_i_trafo,
        }
    ]
    rows += [
        {
            "meter_id": f"{pre}-F{h + 1}",
            "kind": "feeder_head",
            "node": 0,
            "head": h,
            "customer": -1,
            "rated_current_a": r,
        }
        for h, r in zip(heads["head"], heads.rated_current_a, strict=False)
    ]
    # service cable fuse: 63 A at 230 V, scaled power-preserving for other nominals
    fuse = 63.0 * 230.0 / settings.nominal_voltage
    rows += [
        {
            "meter_id": m,
            "kind": "customer",
            "node": nd,
            "head": int(node_head[nd]),
            "customer": c,
            "rated_current_a": fuse,
        }
        for m, nd, c in zip(cust.meter_id[metered], cust.node[metered], cust.customer[metered], strict=False)
    ]
    meters = pd.DataFrame(rows)
    meters["nominal_voltage"] = settings.nominal_voltage
    meters["nominal_frequency"] = settings.nominal_frequency
    # a stream of their own, so the customers and metered set above stay those of the seed
    rng_var = np.random.default_rng(np.random.SeedSequence([seed, 8, FEEDERS.index(name)]))
    meters["accuracy_class"] = _accuracy_classes(meters.kind.to_numpy(), rng_var)
    cust.insert(
        cust.columns.get_loc("has_ac") + 1,
        "power_factor",
        _power_factors(cust.slp_profile.to_numpy(), rng_var),
    )

    return Feeder(
        name=name,
        net=net,
        settings=settings,
        node_bus=node_bus,
        z1=z1,
        z0=z0,
        z1_grid=complex(z1_grid),
        z_trafo=complex(z_trafo),
        path=path,
        branch_line=branch_line,
        branch_z1=bz1,
        branch_z0=bz0,
        branch_head=branch_head,
        node_head=node_head,
        heads=heads,
        customers=cust,
        meters=meters,
        trafo=trafo,
        location=_LOCATION[name],
    )
