"""Apparent power, signed power factor, totals and reactive compensation (standards.md, Power).

Sign conventions (load convention, as in the Reading proto): P > 0 import, P < 0 export;
Q > 0 lagging (inductive load), Q < 0 leading. Both signs are valid inputs.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def apparent_power_va(p_w: ArrayLike, q_var: ArrayLike) -> NDArray[np.float64]:
    """Apparent power S = √(P² + Q²) in VA (per phase, or vector total from P/Q totals)."""
    return np.hypot(np.asarray(p_w, dtype=float), np.asarray(q_var, dtype=float))


def power_factor_signed(p_w: ArrayLike, q_var: ArrayLike, undefined: float = np.nan) -> NDArray[np.float64]:
    """Signed displacement power factor: |P| / S with the sign of Q.

    PF = P/S in magnitude; the displacement PF sign follows Q (positive = lagging Q ≥ 0,
    negative = leading Q < 0), standards.md "Power". Export (P < 0) does not flip the sign:
    the direction of flow is carried by P itself. Returns ``undefined`` where S = 0.
    """
    p = np.asarray(p_w, dtype=float)
    q = np.asarray(q_var, dtype=float)
    s = np.hypot(p, q)
    sign = np.where(q < 0, -1.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, sign * np.abs(p) / np.where(s > 0, s, 1.0), undefined)


def three_phase_total(xa: ArrayLike, xb: ArrayLike, xc: ArrayLike) -> NDArray[np.float64]:
    """Three-phase total = sum of the phase values (W, var or VA; standards.md "Power")."""
    return np.asarray(xa, dtype=float) + np.asarray(xb, dtype=float) + np.asarray(xc, dtype=float)


def compensation_var(p_w: ArrayLike, pf_from: ArrayLike, pf_to: ArrayLike) -> NDArray[np.float64]:
    """Reactive compensation to raise PF from PF1 to PF2 at active power P (var).

    Qc = P · (tan(acos PF1) − tan(acos PF2)) (standards.md "Power"). PFs are magnitudes in
    (0, 1]. Example: 100 kW from 0.80 to 0.95 → 100e3·(0.75 − 0.32868) = 42 132 var.
    """
    p = np.asarray(p_w, dtype=float)
    pf1 = np.abs(np.asarray(pf_from, dtype=float))
    pf2 = np.abs(np.asarray(pf_to, dtype=float))
    return p * (np.tan(np.arccos(pf1)) - np.tan(np.arccos(pf2)))
