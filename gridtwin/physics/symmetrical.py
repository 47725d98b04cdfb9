"""Symmetrical components and voltage/current unbalance.

References: IEC 61000-4-30 / EN 50160 (VUF), NEMA MG-1 (LVUR), IEEE (PVUR).
All magnitudes are RMS; inputs broadcast like numpy arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: Fortescue operator a = 1∠120°.
A_OPERATOR: complex = complex(np.cos(2 * np.pi / 3), np.sin(2 * np.pi / 3))

#: Nominal phase angles (rad) of phases a, b, c for a positive-sequence (abc) system.
PHASE_ANGLES_RAD = np.array([0.0, -2 * np.pi / 3, 2 * np.pi / 3])


def symmetrical_components(
    xa: ArrayLike, xb: ArrayLike, xc: ArrayLike
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], NDArray[np.complex128]]:
    """Zero, positive and negative sequence phasors (Fortescue).

    With a = 1∠120°: X0 = (Xa+Xb+Xc)/3, X1 = (Xa + a·Xb + a²·Xc)/3,
    X2 = (Xa + a²·Xb + a·Xc)/3 (standards.md, "Symmetrical components"). Units follow the
    inputs (V or A phasors, complex).
    """
    xa, xb, xc = (np.asarray(x, dtype=np.complex128) for x in (xa, xb, xc))
    a, a2 = A_OPERATOR, A_OPERATOR * A_OPERATOR
    x0 = (xa + xb + xc) / 3.0
    x1 = (xa + a * xb + a2 * xc) / 3.0
    x2 = (xa + a2 * xb + a * xc) / 3.0
    return x0, x1, x2


def phasors_from_magnitudes(
    mag_a: ArrayLike, mag_b: ArrayLike, mag_c: ArrayLike
) -> tuple[NDArray[np.complex128], NDArray[np.complex128], NDArray[np.complex128]]:
    """Phasors Xa∠0°, Xb∠−120°, Xc∠+120° from magnitudes.

    ASSUMPTION (documented): exact 120° spacing. Meters in gridtwin report magnitudes only, so
    any quantity derived from these phasors only reflects magnitude unbalance.
    """
    rot = np.exp(1j * PHASE_ANGLES_RAD)
    return (
        np.asarray(mag_a, dtype=float) * rot[0],
        np.asarray(mag_b, dtype=float) * rot[1],
        np.asarray(mag_c, dtype=float) * rot[2],
    )


def vuf_from_phasors_pct(ua: ArrayLike, ub: ArrayLike, uc: ArrayLike) -> NDArray[np.float64]:
    """Voltage unbalance factor VUF = |U2| / |U1| × 100 % (IEC 61000-4-30, EN 50160).

    Inputs are complex phasors (phase-to-neutral or line-to-line; the zero sequence does not
    enter). Returns NaN where |U1| = 0.
    """
    _, u1, u2 = symmetrical_components(ua, ub, uc)
    m1 = np.abs(u1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m1 > 0, np.abs(u2) / np.where(m1 > 0, m1, 1.0) * 100.0, np.nan)


def vuf_from_line_magnitudes_pct(u12_v: ArrayLike, u23_v: ArrayLike, u31_v: ArrayLike) -> NDArray[np.float64]:
    """VUF (IEC 61000-4-30) from line-to-line magnitudes alone.

    β = (U12⁴+U23⁴+U31⁴)/(U12²+U23²+U31²)², VUF = √((1−√(3−6β)) / (1+√(3−6β))) × 100 %.
    Exact for any three line voltages (they always close a triangle). Check vector: 200, 205,
    220 V → 5.84 %. Rounding that makes 3−6β slightly negative is clipped to 0.
    """
    u12, u23, u31 = (np.asarray(x, dtype=float) for x in (u12_v, u23_v, u31_v))
    s2 = u12**2 + u23**2 + u31**2
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = (u12**4 + u23**4 + u31**4) / (s2 * s2)
        root = np.sqrt(np.clip(3.0 - 6.0 * beta, 0.0, None))
        return np.sqrt(np.clip((1.0 - root) / (1.0 + root), 0.0, None)) * 100.0


def max_deviation_from_mean_pct(xa: ArrayLike, xb: ArrayLike, xc: ArrayLike) -> NDArray[np.float64]:
    """max |X_i − X_avg| / X_avg × 100 % over three magnitudes (NaN where X_avg = 0)."""
    x = np.stack([np.asarray(v, dtype=float) for v in (xa, xb, xc)], axis=0)
    avg = x.mean(axis=0)
    dev = np.abs(x - avg).max(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(avg != 0, dev / np.where(avg != 0, avg, 1.0) * 100.0, np.nan)


def lvur_pct(u12_v: ArrayLike, u23_v: ArrayLike, u31_v: ArrayLike) -> NDArray[np.float64]:
    """Line voltage unbalance rate (NEMA MG-1): max |U_ij − U_avg| / U_avg × 100 %.

    Over line-to-line magnitudes. Check vector: 200, 205, 220 V → 5.60 %.
    """
    return max_deviation_from_mean_pct(u12_v, u23_v, u31_v)


def pvur_pct(ua_v: ArrayLike, ub_v: ArrayLike, uc_v: ArrayLike) -> NDArray[np.float64]:
    """Phase voltage unbalance rate (IEEE): the LVUR formula over phase-to-neutral magnitudes.

    Ignores angles by definition.
    """
    return max_deviation_from_mean_pct(ua_v, ub_v, uc_v)


def line_magnitudes_from_phase_magnitudes(
    ua_v: ArrayLike, ub_v: ArrayLike, uc_v: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Line-to-line magnitudes U_ab, U_bc, U_ca (V) from phase-to-neutral magnitudes.

    ASSUMPTION (documented, standards.md "Phase-to-neutral magnitudes alone do not determine
    line voltages"): the phases are exactly 120° apart, so
    |U_x − U_y| = √(U_x² + U_y² + U_x·U_y) (cos 120° = −½). Balanced 230 V → 398.4 V.
    """
    ua, ub, uc = (np.asarray(x, dtype=float) for x in (ua_v, ub_v, uc_v))

    def ll(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.sqrt(x * x + y * y + x * y)

    return ll(ua, ub), ll(ub, uc), ll(uc, ua)
