"""Per-meter 15-min load series from the simulator's load model (gridsim.loads).

The simulator's Parquet datasets hold 3 (quick) or 21 (full) days of the training feeder and
1 or 4 days of the test feeder, with the scenario changing every 6 h: too short for a model
with weekly lags (8 days of history before the first origin) and a day-ahead horizon. So the
load forecast runs the simulator's *load model* itself (BDEW standard load profiles + per
customer variation, PV, EV, AC: `gridsim.loads.simulate_customers`) for several weeks under one
scenario, without the power flow: each customer's net active power (15-min means of 5-min
steps) and the feeder aggregate (sum of the customers, line losses not included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.forecast.data import LoadSeries

STEP = pd.Timedelta(minutes=15)


def simulate_meters(
    feeder: str,
    days: int,
    seed: int,
    start: str = "2023-04-03",
    scenario: str = "normal",
    customers: int | None = None,
) -> list[LoadSeries]:
    """One LoadSeries per customer of `feeder` plus the aggregate (name "<feeder>:aggregate")."""
    from gridsim.loads import simulate_customers
    from gridsim.network import build_feeder
    from gridsim.scenarios import get

    fd = build_feeder(feeder, seed=seed)
    times = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=days * 288, freq="300s")
    loads = simulate_customers(
        fd, times, [get(scenario)], np.zeros(len(times), int), np.random.default_rng(seed)
    )
    p = loads.s.real.reshape(loads.s.shape[0], -1, 3).mean(axis=2)  # (customers, 15-min steps)
    start_ts = times[0]
    ids = fd.customers.meter_id.astype(str).to_numpy() if "meter_id" in fd.customers else None
    out = []
    n = len(p) if customers is None else min(customers, len(p))
    for i in range(n):
        name = str(ids[i]) if ids is not None and ids[i] not in ("", "None", "nan") else f"{feeder}:c{i:03d}"
        out.append(LoadSeries(values=p[i], start=start_ts, step=STEP, name=name))
    out.append(LoadSeries(values=p.sum(axis=0), start=start_ts, step=STEP, name=f"{feeder}:aggregate"))
    return out
