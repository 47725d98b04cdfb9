"""Live reading feed for the launcher/gateway: scenario-driven, paced in (accelerated) time.

The feed simulates the feeder one 6-h block at a time (same physics as the datasets) and
yields one dict per meter and time step with the readings-table column names. Pacing:
``speed`` = simulated seconds per wall-clock second (1 = real time, 60 = one minute of grid
time per second); ``speed=0`` yields as fast as possible. Pacing sleeps only between
time steps, so a consumer iterating in a thread/executor is never blocked longer than one
step interval / speed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pandas as pd

from gridsim.network import PHASES, TRAINING_FEEDER, GridSettings, build_feeder
from gridsim.scenarios import BLOCK_HOURS
from gridsim.sensors import apply_noise, quantise
from gridsim.simulate import simulate


def iter_live_readings(
    scenario: str = "normal",
    meters: int = 20,
    seed: int = 0,
    speed: float = 60.0,
    step_s: int = 60,
    feeder: str = TRAINING_FEEDER,
    settings: GridSettings | None = None,
    start: pd.Timestamp | None = None,
    max_steps: int | None = None,
) -> Iterator[dict]:
    """Yield readings dicts (meter_id, timestamp, voltage_a.., frequency, ...) indefinitely.

    Args:
        scenario: scenario name (``gridsim.scenarios.SCENARIOS``).
        meters: number of meters (transformer + feeder heads + customer meters).
        seed: reproducibility seed (block k uses seed + k).
        speed: simulated seconds per wall second; 0 = no pacing.
        step_s: reading interval (s) of simulated time.
        feeder, settings: feeder name and nominal values.
        start: simulated start time (default: now, UTC, floored to the minute).
        max_steps: stop after this many time steps (None = endless).
    """
    fd = build_feeder(feeder, settings, n_customer_meters=meters, seed=seed)
    m = fd.meters.iloc[:meters]
    t_sim = start or pd.Timestamp.now(tz="UTC").floor("min")
    wall0 = time.monotonic()
    sim0 = t_sim
    steps = 0
    block = 0
    while True:
        res = simulate(fd, [scenario], t_sim, step_s, seed + block)
        rng = np.random.default_rng(seed + 7919 * (block + 1))
        v, i, p, q = quantise(
            *apply_noise(res.v, res.i, res.p, res.q, rng, fd.meters.accuracy_class.to_numpy())
        )
        sec = ((res.times - res.times[0]).total_seconds().to_numpy()).astype(int)
        f = res.freq.frequency_hz.to_numpy()[sec]
        for k, ts in enumerate(res.times):
            if speed > 0:
                due = wall0 + (ts - sim0).total_seconds() / speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            for j in range(len(m)):
                d = {"meter_id": m.meter_id.iat[j], "timestamp": ts.to_pydatetime()}
                for n, ph in enumerate(PHASES):
                    d[f"voltage_{ph}"] = float(v[j, n, k])
                    d[f"current_{ph}"] = float(i[j, n, k])
                    d[f"active_power_{ph}"] = float(p[j, n, k])
                    d[f"reactive_power_{ph}"] = float(q[j, n, k])
                d["frequency"] = float(f[k] + rng.normal(0, 0.001))
                d["nominal_voltage"] = fd.un
                d["nominal_frequency"] = fd.settings.nominal_frequency
                d["ambient_temperature"] = float(res.ambient[k])
                yield d
            steps += 1
            if max_steps is not None and steps >= max_steps:
                return
        t_sim = t_sim + pd.Timedelta(hours=BLOCK_HOURS)
        block += 1
