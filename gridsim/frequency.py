"""System frequency at 1 s resolution: aggregated swing equation with primary/secondary control.

Per-unit model on the system base (f in pu of f0, powers in pu of system load):

    2H dΔf/dt = ΔPm − ΔPload − D·Δf                       (swing equation)
    Tg dΔPm/dt = −Δf/R − ΔPm + ΔPagc                      (governor, droop R)
    dΔPagc/dt = −Ki·Δf                                    (secondary control / AGC)

ΔPload = random walk (Ornstein-Uhlenbeck imbalance) + deterministic ramps at the hour
(schedule changes, sign by time of day) + generator trips (a step of the lost generation).
A trip therefore gives the physical shape: initial ROCOF = −ΔP·f0/(2H), a nadir set by H, R,
Tg and D, a quasi-steady value −ΔP/(1/R + D) and AGC recovery over minutes.
ROCOF is reported as Δf/Δt in Hz/s with Δt = 1 s real time (docs/standards).
Defaults: H = 5 s, R = 5 %, D = 1, Tg = 10 s, Ki = 0.01 /s — continental-scale parameters scaled
so 0.5-3 % trips give nadirs of ~0.1-0.5 Hz (small interconnection / island behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter


@dataclass(frozen=True)
class FreqParams:
    """Frequency-dynamics parameters (per unit on the system base)."""

    h_s: float = 5.0  # inertia constant H (s)
    droop: float = 0.05  # R (pu Δf per pu ΔP)
    damping: float = 1.0  # D (pu ΔP per pu Δf)
    tg_s: float = 10.0  # governor / turbine time constant (s)
    ki: float = 0.01  # AGC integral gain (1/s)


def simulate_frequency(
    n_seconds: int,
    f0: float,
    rng: np.random.Generator,
    noise_mhz: np.ndarray | float = 8.0,
    stiffness: np.ndarray | float = 1.0,
    trips: list[tuple[int, float]] | None = None,
    start: pd.Timestamp | None = None,
    params: FreqParams = FreqParams(),
) -> pd.DataFrame:
    """Simulate system frequency at 1 s.

    Args:
        n_seconds: length of the series (s).
        f0: nominal frequency (Hz), e.g. 50 or 60.
        rng: random generator.
        noise_mhz: random imbalance drive per second (scalar or (n_seconds,)), expressed as
            the frequency deviation (mHz) it would cause at steady state.
        stiffness: multiplier on primary-control gain 1/R (scalar or per second).
        trips: list of (second, lost generation in pu of system load).
        start: timestamp of the first sample (UTC); default 2023-01-01.
        params: ``FreqParams``.

    Returns:
        DataFrame indexed 0..n-1 with timestamp, frequency_hz, rocof_hz_per_s,
        trip_event_id (−1 if none), in_trip (bool; first 10 min after a trip),
        outside_normal_band (|Δf| > 1 % f0, EN 50160 99.5 % band).
    """
    start = start or pd.Timestamp("2023-01-01", tz="UTC")
    n = n_seconds
    noise = np.broadcast_to(np.asarray(noise_mhz, float), (n,))
    stiff = np.broadcast_to(np.asarray(stiffness, float), (n,))
    # OU imbalance: σ chosen so that its steady-state Δf ≈ noise_mhz
    beta = 1.0 / params.droop + params.damping
    tau_ou = 300.0
    a = np.exp(-1.0 / tau_ou)
    e = rng.normal(0, 1, n)
    sd = noise * 1e-3 / f0 * beta * np.sqrt(1 - a**2)
    ou = lfilter([1.0], [1.0, -a], sd * e)
    # deterministic schedule ramps at the hour: ±0.3 % over 5 min, decaying over 15 min
    t_s = np.arange(n)
    ts = start + pd.to_timedelta(t_s, unit="s")
    sec_in_hour = np.asarray(ts.minute) * 60 + np.asarray(ts.second)
    hour = np.asarray(ts.hour)
    sign = np.where((hour >= 6) & (hour < 20), 1.0, -1.0)
    hour_ramp = sign * 0.003 * np.exp(-sec_in_hour / 600.0) * np.clip(sec_in_hour / 60, 0, 1)
    dp_load = ou + hour_ramp
    trip_id = np.full(n, -1)
    for k, (sec, size) in enumerate(sorted(trips or [])):
        if 0 <= sec < n:
            dp_load[sec:] += size
            trip_id[sec : min(n, sec + 600)] = k

    # exact zero-order-hold discretisation at 1 s (state x = [Δf, ΔPm, ΔPagc]); one
    # transition matrix per distinct stiffness so block-wise scenarios stay exact
    from scipy.linalg import expm

    p = params
    cache: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    df_pu = np.zeros(n)
    x0, x1, x2 = 0.0, 0.0, 0.0
    for k in range(n):
        st = float(stiff[k])
        if st not in cache:
            r_inv = st / p.droop
            a_c = np.array(
                [
                    [-p.damping / (2 * p.h_s), 1 / (2 * p.h_s), 0.0],
                    [-r_inv / p.tg_s, -1 / p.tg_s, 1 / p.tg_s],
                    [-p.ki, 0.0, 0.0],
                ]
            )
            b_c = np.array([-1 / (2 * p.h_s), 0.0, 0.0])
            m = np.zeros((4, 4))
            m[:3, :3], m[:3, 3] = a_c, b_c
            em = expm(m)
            cache[st] = (em[:3, :3].tolist(), em[:3, 3].tolist())
        ad, bd = cache[st]
        u = dp_load[k]
        x0, x1, x2 = (
            ad[0][0] * x0 + ad[0][1] * x1 + ad[0][2] * x2 + bd[0] * u,
            ad[1][0] * x0 + ad[1][1] * x1 + ad[1][2] * x2 + bd[1] * u,
            ad[2][0] * x0 + ad[2][1] * x1 + ad[2][2] * x2 + bd[2] * u,
        )
        df_pu[k] = x0
    f = f0 * (1 + df_pu)
    rocof = np.diff(f, prepend=f[0]) / 1.0  # Δt = 1 s between samples
    return pd.DataFrame(
        {
            "timestamp": ts,
            "frequency_hz": f,
            "rocof_hz_per_s": rocof,
            "trip_event_id": trip_id,
            "in_trip": trip_id >= 0,
            "outside_normal_band": np.abs(f - f0) > 0.01 * f0,
        }
    )


def trip_summary(freq: pd.DataFrame, trips: list[tuple[int, float]], f0: float) -> pd.DataFrame:
    """Per-trip labels: lost_power_pu, nadir_hz, time_to_nadir_s, max_rocof_hz_per_s,
    quasi_steady_hz (60 s after the trip)."""
    rows = []
    f = freq.frequency_hz.to_numpy()
    for k, (sec, size) in enumerate(sorted(trips)):
        if sec >= len(f):
            continue
        w = f[sec : sec + 120]
        i_n = int(np.argmin(w))
        rows.append(
            {
                "trip_event_id": k,
                "timestamp": freq.timestamp.iloc[sec],
                "lost_power_pu": size,
                "nadir_hz": float(w[i_n]),
                "time_to_nadir_s": float(i_n),
                "max_rocof_hz_per_s": float(np.min(np.diff(w))) if len(w) > 1 else 0.0,
                "quasi_steady_hz": float(w[min(60, len(w) - 1)]),
                "f0_hz": f0,
            }
        )
    return pd.DataFrame(rows)
