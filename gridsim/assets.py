"""The simulated feeder's asset register (what a utility's register would hold for it)."""

from __future__ import annotations

import time
from typing import Any

from gridsim.network import build_feeder
from gridtwin.decision.dispatch import DispatchParams
from gridtwin.netopt.network import BUSBAR_BANK, REMOTE_BANK

# The controllable equipment the simulated feeder has (what the decision models were trained
# on): the transformer's tap changer (+/-2 steps of 2.5 %), the switched capacitor banks (a
# busbar bank and two remote banks, gridtwin/netopt/network.py), which the transformer and the
# feeder heads switch, the community battery and genset at the transformer (the dispatch
# problem's resources), and single-phase service connections that a crew can move between
# phases under the transformer and the feeder heads. Customers' home batteries are their own
# peak shavers, not dispatched by the operator, so they are not listed as dispatchable.
TAP_STEPS = 2
CAPACITOR_KVAR = (BUSBAR_BANK[0] * BUSBAR_BANK[1] + 2 * REMOTE_BANK[0] * REMOTE_BANK[1]) / 1e3


def equipment(kind: str) -> dict[str, float]:
    """The register's equipment fields of a simulated meter of `kind`."""
    if kind == "customer":
        return {}
    record = {"capacitor_kvar": CAPACITOR_KVAR, "tap_steps": float(TAP_STEPS), "switchable_phases": 1.0}
    if kind == "transformer":
        resources = DispatchParams()
        record.update(
            battery_kw=resources.battery_kw, battery_kwh=resources.battery_kwh, genset_kw=resources.genset_kw
        )
    return record


def simulated_assets(feeder: str = "kerber_dorfnetz", now_s: float | None = None) -> list[dict[str, Any]]:
    """The simulated feeder's asset register: each meter's rated current from the network
    model (transformer: its rated secondary current; feeder heads: the cable rating), and the
    transformer's documented condition in the simulation (equivalent age 20 years, last
    maintained 400 days ago), and the controllable equipment of the transformer and feeder-head
    meters (`equipment`)."""
    now_s = time.time() if now_s is None else now_s
    meters = build_feeder(feeder).meters
    out = []
    for row in meters.itertuples():
        record: dict[str, Any] = {"meter_id": row.meter_id, "rated_current_a": float(row.rated_current_a)}
        record.update(equipment(str(row.kind)))
        if row.kind == "transformer":
            record.update(age_years=20.0, last_maintenance_unix=now_s - 400 * 86400)
        out.append(record)
    return out
