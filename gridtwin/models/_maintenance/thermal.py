"""IEC 60076-7 transformer hot spot and ageing for the serving state (numpy only).

Same model and ONAN parameters as the simulator's fleet (IEC 60076-7 Table 4): top-oil rise
Δθo → Δθor·((1 + R·K²)/(1 + R))^x with τo = 180 min, winding gradient Δθh → Hgr·K^y with
τw = 4 min, exact exponential update for any step; θh = θa + Δθo + Δθh. Relative ageing
V = 2^((θh − 98)/6) (non-thermally-upgraded paper). The simulator's copy lives in gridsim,
which the module process must not import (it pulls the load-profile stack); a unit test
checks that both give the same trajectory.
"""

from __future__ import annotations

import numpy as np

DELTA_OR, HGR, R, X, Y = 55.0, 23.0, 5.0, 0.8, 1.6
TAU_O_MIN, TAU_W_MIN = 180.0, 4.0


def steady_rises(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ultimate top-oil rise and hot-spot gradient (K) at load factor k."""
    k = np.maximum(np.asarray(k, float), 0.0)
    return DELTA_OR * ((1 + R * k**2) / (1 + R)) ** X, HGR * k**Y


def step(do: np.ndarray, dh: np.ndarray, k: np.ndarray, dt_min: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One exact exponential update of (Δθo, Δθh) over dt_min minutes at constant k."""
    do_ss, dh_ss = steady_rises(k)
    ao, aw = np.exp(-np.asarray(dt_min) / TAU_O_MIN), np.exp(-np.asarray(dt_min) / TAU_W_MIN)
    return do_ss + (do - do_ss) * ao, dh_ss + (dh - dh_ss) * aw


def ageing_rate(theta_h: np.ndarray) -> np.ndarray:
    """V = 2^((θh − 98)/6), IEC 60076-7 eq. (2)."""
    return np.power(2.0, (np.asarray(theta_h, float) - 98.0) / 6.0)
