"""Open conductors upstream of three-phase meters, injected into the simulator's readings.

The simulator opens a phase only at a feeder-head fuse, downstream of the head meter (which
keeps the busbar voltage and sees that phase's current fall to zero), and the quick dataset
holds none at all; a tree trained on it cannot name an open phase where the meter itself
lost the phase. Physics of that case: the phase voltage collapses to a residual below the
supply-interruption threshold (EN 50160 clause 3: < 5 % of the reference voltage; IEEE 1159
Table 2 interruption < 0.1 pu), the phase carries no current and no power, and the other two
phases keep their supply and their own loads.

Labels come from the injection (which phase, when), never from thresholds of the readings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PHASES = ("a", "b", "c")
#: Residual voltage on the open conductor, pu of U_n (EN 50160 supply-interruption threshold).
RESIDUAL_PU = (0.0, 0.05)
#: Event durations (s): the simulator's own open-phase range (10–180 min).
DURATION_S = (600.0, 10800.0)
#: Meter random error on the residual (σ, relative), as gridsim's voltage channel.
VOLTAGE_NOISE = 0.001


def inject_open_phases(
    readings: pd.DataFrame, meter_ids: list[str], events_per_meter: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of ``readings`` with ``events_per_meter`` open phases per meter in ``meter_ids``,
    and the injected rows (meter_id, timestamp, phase).

    Events of one meter sit in disjoint slots of its time span. Voltage on the open phase:
    a residual drawn per reading in RESIDUAL_PU × U_n; current, active and reactive power 0.
    """
    out = readings.copy()
    ts = pd.to_datetime(out["timestamp"], utc=True)
    records = []
    # Converted once: a tz-aware column converts to an object array on every ``to_numpy``
    # (per event, 90 s of the full profile's 211,680 rows × 2 feeders).
    stamps = out["timestamp"].to_numpy()
    nominal_v = out["nominal_voltage"].to_numpy(float)
    for meter in meter_ids:
        rows = np.flatnonzero(out["meter_id"].to_numpy() == meter)
        if len(rows) == 0 or events_per_meter <= 0:
            continue
        t = ts.iloc[rows].to_numpy("datetime64[ns]").astype(np.int64) / 1e9
        edges = np.linspace(t.min(), t.max(), events_per_meter + 1)
        for k in range(events_per_meter):
            duration = rng.uniform(*DURATION_S)
            start = rng.uniform(edges[k], max(edges[k], edges[k + 1] - duration))
            hit = rows[(t >= start) & (t < start + duration)]
            if len(hit) == 0:
                continue
            ph = PHASES[int(rng.integers(3))]
            un = nominal_v[hit]
            residual = rng.uniform(*RESIDUAL_PU, len(hit)) * (1 + rng.normal(0, VOLTAGE_NOISE, len(hit)))
            out.iloc[hit, out.columns.get_loc(f"voltage_{ph}")] = np.round(residual * un, 1)
            for name in ("current", "active_power", "reactive_power"):
                out.iloc[hit, out.columns.get_loc(f"{name}_{ph}")] = 0.0
            records.append(pd.DataFrame({"meter_id": meter, "timestamp": stamps[hit], "phase": ph}))
    opened = (
        pd.concat(records, ignore_index=True)
        if records
        else pd.DataFrame({"meter_id": [], "timestamp": [], "phase": []})
    )
    return out, opened
