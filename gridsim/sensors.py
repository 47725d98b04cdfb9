"""Meter measurement model: accuracy class, resolution and sensor faults (a separate label).

Accuracy (IEC 62053-21 class 1, IEC 62053-22 class 0.5S: the class index is the permitted
active-energy error in % at reference conditions). Each meter has a class; each channel
(V, I per phase) carries a per-meter calibration error (uniform within 60 % of its share of
the limit) plus random noise (truncated normal within the remaining 40 %). The V and I
channel errors are each bounded by ``0.495 × class`` %, so P = V·I·cos φ stays inside the
class limit; P and Q carry the same gains (P_m = P·gV·gI) so |S| = V·I before rounding.
Resolution: readings are rounded to the register's step (``RESOLUTION``: 0.1 V, 0.01 A,
1 W, 1 var).

Sensor faults (per meter-day rate): ``stuck`` (all channels frozen, 10 min-6 h),
``dropout`` (one phase's V/I/P/Q read 0, 5 min-2 h), ``spike`` (one reading, one channel
×1.3-2), ``drift`` (one phase's voltage gain drifting linearly to ±2-8 % over 6-48 h).
"""

from __future__ import annotations

import numpy as np

ACCURACY_CLASSES = (0.5, 1.0)
RESOLUTION = {"voltage_v": 0.1, "current_a": 0.01, "power_w": 1.0, "reactive_var": 1.0}
_CHANNEL_SHARE = 0.495  # of the class limit, per channel (V or I): (1+e)² − 1 < class


def channel_gains(accuracy_class: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Multiplicative channel gains (n_meters, 3, T) for meters of ``accuracy_class`` (%).

    |gain − 1| ≤ 0.495 × class / 100 for every reading (calibration + truncated noise).
    """
    nm = shape[0]
    limit = _CHANNEL_SHARE * np.asarray(accuracy_class, float).reshape(nm, 1, 1) / 100.0
    calib = rng.uniform(-0.6, 0.6, (nm, shape[1], 1)) * limit
    noise = np.clip(rng.normal(0.0, 1.0 / 3.0, shape), -1.0, 1.0) * 0.4 * limit
    return 1.0 + calib + noise


def apply_noise(v, i, p, q, rng: np.random.Generator, accuracy_class=None):
    """Return measured (v, i, p, q) with class errors (default class 0.5 for every meter)."""
    cls = np.full(v.shape[0], 0.5) if accuracy_class is None else np.asarray(accuracy_class, float)
    gv = channel_gains(cls, v.shape, rng)
    gi = channel_gains(cls, i.shape, rng)
    return v * gv, i * gi, p * gv * gi, q * gv * gi


def quantise(v, i, p, q):
    """Readings rounded to the meter registers' resolution (``RESOLUTION``, powers of ten,
    so rounding to decimals gives the nearest representable float: 230.1, not 230.10000000000002)."""
    r = RESOLUTION
    steps = (r["voltage_v"], r["current_a"], r["power_w"], r["reactive_var"])
    return tuple(
        np.round(a, int(round(-np.log10(step)))) for a, step in zip((v, i, p, q), steps, strict=True)
    )


def apply_faults(
    v, i, p, q, rate_per_meter_day: np.ndarray, step_s: float, rng: np.random.Generator
) -> list[tuple[int, int, int, str, str]]:
    """Inject sensor faults in place; returns (meter, i0, i1, fault_type, phase) records.

    ``rate_per_meter_day`` is (T,) (scenario-dependent).
    """
    nm, _, t = v.shape
    rec = []
    p_step = rate_per_meter_day * step_s / 86400.0
    for m in range(nm):
        starts = np.flatnonzero(rng.random(t) < p_step)
        for k in starts:
            kind = str(rng.choice(["stuck", "dropout", "spike", "drift"]))
            ph = int(rng.integers(3))
            if kind == "stuck":
                k1 = min(t, k + int(rng.uniform(600, 6 * 3600) / step_s))
                for a in (v, i, p, q):
                    a[m, :, k:k1] = a[m, :, k : k + 1]
                rec.append((m, k, k1, kind, "abc"))
            elif kind == "dropout":
                k1 = min(t, k + int(rng.uniform(300, 7200) / step_s))
                for a in (v, i, p, q):
                    a[m, ph, k:k1] = 0.0
                rec.append((m, k, k1, kind, "abc"[ph]))
            elif kind == "spike":
                g = rng.uniform(1.3, 2.0)
                (v if rng.random() < 0.5 else i)[m, ph, k] *= g
                rec.append((m, k, k + 1, kind, "abc"[ph]))
            else:
                k1 = min(t, k + int(rng.uniform(6, 48) * 3600 / step_s))
                g = 1 + rng.choice([-1, 1]) * rng.uniform(0.02, 0.08) * np.linspace(0, 1, k1 - k)
                v[m, ph, k:k1] *= g
                p[m, ph, k:k1] *= g
                q[m, ph, k:k1] *= g
                rec.append((m, k, k1, kind, "abc"[ph]))
    return rec
