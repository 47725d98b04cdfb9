"""Meter measurement model: accuracy-class noise and sensor faults (a separate label).

Noise: class-0.5-like gains, σ 0.1 % on V and 0.2 % on I; P and Q carry the same gains
(P_m = P·gV·gI) so |S| = V·I holds for every reading. Sensor faults (per meter-day rate):
``stuck`` (all channels frozen, 10 min-6 h), ``dropout`` (one phase's V/I/P/Q read 0,
5 min-2 h), ``spike`` (one reading, one channel ×1.3-2), ``drift`` (one phase's voltage gain
drifting linearly to ±2-8 % over 6-48 h).
"""

from __future__ import annotations

import numpy as np


def apply_noise(v, i, p, q, rng: np.random.Generator):
    """Return measured (v, i, p, q) with multiplicative meter noise."""
    gv = 1 + rng.normal(0, 0.001, v.shape)
    gi = 1 + rng.normal(0, 0.002, i.shape)
    return v * gv, i * gi, p * gv * gi, q * gv * gi


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
