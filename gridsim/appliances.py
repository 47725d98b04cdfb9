"""Household appliance switching as discrete power steps.

Real smart-meter load curves are a smooth base plus rectangular steps of individual
appliances (non-intrusive load monitoring literature: kettle, oven, washing-machine heater,
dishwasher, microwave, vacuum cleaner). Each switching event draws an appliance from the
catalogue, a rated power inside its range and a run time; the step up at the start and the
step down at the end are exact (no smoothing), so the fine readings show the edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Appliance:
    """One appliance type: power range (W), run time range (min), power factor, share of uses."""

    name: str
    power_w: tuple[float, float]
    minutes: tuple[float, float]
    power_factor: float
    share: float


CATALOGUE = (
    Appliance("kettle", (1800.0, 3000.0), (2.0, 5.0), 1.0, 0.30),
    Appliance("oven_hob", (1500.0, 2500.0), (20.0, 60.0), 1.0, 0.15),
    Appliance("washing_machine", (1900.0, 2200.0), (10.0, 20.0), 0.98, 0.15),
    Appliance("dishwasher", (1800.0, 2200.0), (10.0, 25.0), 0.98, 0.10),
    Appliance("microwave", (800.0, 1300.0), (2.0, 8.0), 0.95, 0.20),
    Appliance("vacuum", (700.0, 1200.0), (10.0, 30.0), 0.90, 0.10),
)


def appliance_steps(
    rate_per_step: np.ndarray, dt_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int, float, str]]]:
    """Rectangular appliance power steps for every customer.

    Args:
        rate_per_step: (n_customers, T) probability that an appliance is switched on in the
            step (a Poisson rate × dt, small).
        dt_s: step length (s); run times are rounded to whole steps (at least one).
        rng: random generator.

    Returns:
        (p_w, q_var, events): active and reactive power (n_customers, T) and one record per
        switching event (customer, start step, end step (exclusive), power W, appliance).
    """
    n, t = rate_per_step.shape
    cust, k0 = np.nonzero(rng.random((n, t)) < rate_per_step)
    shares = np.array([a.share for a in CATALOGUE])
    kind = rng.choice(len(CATALOGUE), size=len(k0), p=shares / shares.sum())
    lo_p = np.array([a.power_w[0] for a in CATALOGUE])[kind]
    hi_p = np.array([a.power_w[1] for a in CATALOGUE])[kind]
    lo_m = np.array([a.minutes[0] for a in CATALOGUE])[kind]
    hi_m = np.array([a.minutes[1] for a in CATALOGUE])[kind]
    power = rng.uniform(lo_p, hi_p)
    steps = np.maximum(1, np.round(rng.uniform(lo_m, hi_m) * 60.0 / dt_s)).astype(int)
    k1 = np.minimum(k0 + steps, t)
    tan = np.tan(np.arccos(np.array([a.power_factor for a in CATALOGUE])))[kind]
    dp = np.zeros((n, t + 1))
    dq = np.zeros((n, t + 1))
    np.add.at(dp, (cust, k0), power)
    np.add.at(dp, (cust, k1), -power)
    np.add.at(dq, (cust, k0), power * tan)
    np.add.at(dq, (cust, k1), -power * tan)
    events = [
        (int(c), int(a), int(b), float(w), CATALOGUE[j].name)
        for c, a, b, w, j in zip(cust, k0, k1, power, kind, strict=True)
    ]
    return np.cumsum(dp, axis=1)[:, :t], np.cumsum(dq, axis=1)[:, :t], events
