"""The simulated feeder's asset register (what a utility's register would hold for it)."""

from __future__ import annotations

import time
from typing import Any

from gridsim.network import build_feeder


def simulated_assets(feeder: str = "kerber_dorfnetz", now_s: float | None = None) -> list[dict[str, Any]]:
    """The simulated feeder's asset register: each meter's rated current from the network
    model (transformer: its rated secondary current; feeder heads: the cable rating), and the
    transformer's documented condition in the simulation (equivalent age 20 years, last
    maintained 400 days ago)."""
    now_s = time.time() if now_s is None else now_s
    meters = build_feeder(feeder).meters
    out = []
    for row in meters.itertuples():
        record: dict[str, Any] = {"meter_id": row.meter_id, "rated_current_a": float(row.rated_current_a)}
        if row.kind == "transformer":
            record.update(age_years=20.0, last_maintenance_unix=now_s - 400 * 86400)
        out.append(record)
    return out
