"""Time-based windows and the per-meter voltage baseline: O(1) state per meter.

Windows are spans of **real time** taken from the timestamps, never "the last N readings".
The spans are the IEC 61000-4-30 aggregation intervals (150/180 cycles ≈ 3 s, 10 min, 2 h).
Keeping every reading of a 2-h window at a 1-s cadence (7,200 readings per meter) is not
affordable in Redis, so each window is **exponentially time-weighted**: a reading taken Δt
seconds ago weighs exp(−Δt/τ), with τ the interval length. The statistics are the exact
weighted mean, weighted population standard deviation and weighted least-squares slope on time
of all past readings under those weights, updated incrementally (West 1979, numerically stable
co-moment updates) for irregular cadences and gaps: a gap much longer than τ forgets the old
readings (the window restarts).

A window is **supported** (its features are not NaN) only when the meter's readings cover it:
the effective number of readings Σw ≥ ``MIN_EFFECTIVE_READINGS`` and the window has run for at
least τ. A 3-s window cannot be built from 15-min readings (Σw ≈ 1), so it is NaN there.

The **baseline** is the meter's own normal: an exponentially weighted mean and spread of each
phase's voltage in pu with τ = 2 h, updated only by readings inside EN 50160's U_n ± 10 % band
(an event must not teach the meter what normal is). It is read *before* the current reading
is added, so the current reading is compared with the meter's past.

This module is the one definition of the recurrence in Python; the Redis Lua script
(:mod:`gridtwin.features.state_lua`) repeats it line by line to advance the stored state
atomically, and an integration test checks that both paths give the same features.

State layout (float64 vector of ``STATE_LEN`` per meter): ``[layout version, last reading
time (s)]``, then per window ``[Σw, first time, mean t, C_tt, (mean y, C_ty, C_yy) × quantity]``,
then the baseline ``[Σw, first time, last time, (mean, M2) × phase, Σw₁₀, first time₁₀, mean₁₀,
M2₁₀]`` (the last four: the in-band 10-min state of ``voltage_mean_pu``), then
``[under-voltage since (s, 0 = not under), over-voltage since]``.

The in-band 10-min state is the meter's *recent* normal (τ = 600 s, readings inside the band
only): a step or an oscillation is measured against it, and an event that just ended does not
contaminate it (the plain 10-min window does include the event's readings).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

#: Layout version stored in slot 0 (state written by another layout is ignored, i.e. reset).
STATE_LAYOUT = 2.0
#: (label, τ in s): IEC 61000-4-30 aggregation intervals (150 cycles at 50 Hz / 180 at 60 Hz ≈ 3 s).
TIME_WINDOWS: tuple[tuple[str, float], ...] = (("3s", 3.0), ("10min", 600.0), ("2h", 7200.0))
#: Quantities summarised per window (units in the names).
WINDOW_QUANTITIES: tuple[str, ...] = (
    "voltage_mean_pu",
    "current_mean_a",
    "frequency_hz",
    "active_power_total_w",
    "reactive_power_total_var",
)
WINDOW_STATS: tuple[str, ...] = ("mean", "std", "trend_per_s")
#: Baseline time constant (s): the IEC 61000-4-30 2-h interval.
BASELINE_TAU_S = 7200.0
#: Baseline band (pu of U_n): readings outside EN 50160's ±10 % do not update the baseline.
BASELINE_BAND_PU = (0.90, 1.10)
#: Baseline support: Σw ≥ 5 readings and at least 10 min of history.
BASELINE_MIN_EFFECTIVE = 5.0
BASELINE_MIN_SPAN_S = 600.0
#: Floor added (in quadrature) to the baseline spread in z-scores, pu: class 0.5 voltage
#: accuracy (IEC 62053 / IEC 61557-12 class 0.5 ≈ ±0.5 % of reading) — a meter steadier than its
#: own accuracy is not evidence that a 0.3 % move is abnormal.
BASELINE_SPREAD_FLOOR_PU = 0.005
#: Time constant (s) of the in-band recent state (the IEC 61000-4-30 10-min interval).
RECENT_TAU_S = 600.0
#: Window support: Σw ≥ 2 readings and the window has run for at least τ.
MIN_EFFECTIVE_READINGS = 2.0
#: Σw below which the old state is forgotten (restart after a gap of ≳ 7 τ).
RESET_WEIGHT = 1e-3
#: IEEE 1159 band limits used for the event-duration state (pu of U_n).
UNDER_PU, OVER_PU = 0.90, 1.10

NQ = len(WINDOW_QUANTITIES)
NW = len(TIME_WINDOWS)
_TAUS = np.array([tau for _, tau in TIME_WINDOWS])
WINDOW_BLOCK = 4 + 3 * NQ
W0 = 2  # first window slot
B0 = W0 + NW * WINDOW_BLOCK  # baseline slot
R0 = B0 + 3 + 2 * 3  # in-band recent (10-min) slots
E0 = R0 + 4  # event-duration slots
NOMINAL_SLOT = E0 + 2  # U_n (V) the state was built with (0 = not yet known)
STATE_LEN = E0 + 3


def empty_states(n: int) -> F64:
    """n fresh states (no reading seen)."""
    s = np.zeros((n, STATE_LEN))
    s[:, 0] = STATE_LAYOUT
    return s


def _other_scale(state: F64, nominal_v: F64 | None) -> NDArray[np.bool_]:
    """Rows whose state was built on another U_n than the reading's."""
    if nominal_v is None:
        return np.zeros(len(state), dtype=bool)
    known = state[:, NOMINAL_SLOT]
    return (known > 0) & (known != nominal_v)


def advance(state: F64, t: F64, y: F64, vph_pu: F64, nominal_v: F64 | None = None) -> F64:
    """States after adding one reading per row (pure; rows independent).

    Args:
        state: (n, STATE_LEN) states before the reading.
        t: (n,) reading time, Unix s.
        y: (n, NQ) window quantities in ``WINDOW_QUANTITIES`` order (units in the names).
        vph_pu: (n, 3) phase voltages in pu of U_n.
        nominal_v: (n,) U_n in V of the readings (None: not checked).
    """
    s = np.array(state, dtype=np.float64, copy=True)
    fresh = (s[:, 0] != STATE_LAYOUT) | _other_scale(s, nominal_v)
    s[fresh] = empty_states(int(fresh.sum()))
    if nominal_v is not None:
        s[:, NOMINAL_SLOT] = nominal_v
    dt = np.maximum(t - s[:, 1], 0.0)
    # All windows and quantities at once (each element sees the same operations as the
    # scalar recurrence in the Lua script).
    n = len(t)
    win = s[:, W0:B0].reshape(n, NW, WINDOW_BLOCK).copy()
    tt = t[:, None]
    d = np.exp(-dt[:, None] / _TAUS)
    reset = win[:, :, 0] * d < RESET_WEIGHT
    d = np.where(reset, 0.0, d)
    win[:, :, 1] = np.where(reset, tt, win[:, :, 1])
    win[:, :, 0] = win[:, :, 0] * d + 1.0
    a = 1.0 / win[:, :, 0]
    mt = np.where(reset, tt, win[:, :, 2])
    dx = tt - mt
    win[:, :, 2] = mt + a * dx
    win[:, :, 3] = d * win[:, :, 3] + dx * (tt - win[:, :, 2])
    qs = win[:, :, 4:].reshape(n, NW, NQ, 3)
    yq = y[:, None, :]
    my = np.where(reset[:, :, None], yq, qs[..., 0])
    dy = yq - my
    m_new = my + a[:, :, None] * dy
    qs[..., 1] = d[:, :, None] * qs[..., 1] + dx[:, :, None] * (yq - m_new)
    qs[..., 2] = d[:, :, None] * qs[..., 2] + dy * (yq - m_new)
    qs[..., 0] = m_new
    win[:, :, 4:] = qs.reshape(n, NW, 3 * NQ)
    s[:, W0:B0] = win.reshape(n, NW * WINDOW_BLOCK)
    s[:, 1] = np.maximum(s[:, 1], t)

    # Baseline: only readings inside the EN 50160 ±10 % band.
    inside = np.all((vph_pu >= BASELINE_BAND_PU[0]) & (vph_pu <= BASELINE_BAND_PU[1]), axis=1)
    db = np.exp(-np.maximum(t - s[:, B0 + 2], 0.0) / BASELINE_TAU_S)
    reset = s[:, B0] * db < RESET_WEIGHT
    db = np.where(reset, 0.0, db)
    w_new = s[:, B0] * db + 1.0
    a = 1.0 / w_new
    cols = [B0, B0 + 1, B0 + 2, *range(B0 + 3, B0 + 9)]
    new = s[:, cols].copy()
    new[:, 0] = w_new
    new[:, 1] = np.where(reset, t, s[:, B0 + 1])
    new[:, 2] = np.maximum(s[:, B0 + 2], t)
    for p in range(3):
        m = np.where(reset, vph_pu[:, p], s[:, B0 + 3 + 2 * p])
        dv = vph_pu[:, p] - m
        new[:, 3 + 2 * p] = m + a * dv
        new[:, 4 + 2 * p] = db * s[:, B0 + 4 + 2 * p] + dv * (vph_pu[:, p] - new[:, 3 + 2 * p])
    # In-band recent state of the mean voltage (τ = 10 min), same gating and clock.
    dr = np.exp(-np.maximum(t - s[:, B0 + 2], 0.0) / RECENT_TAU_S)
    reset_r = s[:, R0] * dr < RESET_WEIGHT
    dr = np.where(reset_r, 0.0, dr)
    wr = s[:, R0] * dr + 1.0
    vm = y[:, 0]
    mr = np.where(reset_r, vm, s[:, R0 + 2])
    dvr = vm - mr
    new_r = np.column_stack([wr, np.where(reset_r, t, s[:, R0 + 1]), mr + dvr / wr, np.zeros(len(t))])
    new_r[:, 3] = dr * s[:, R0 + 3] + dvr * (vm - new_r[:, 2])
    s[:, cols] = np.where(inside[:, None], new, s[:, cols])
    s[:, R0 : R0 + 4] = np.where(inside[:, None], new_r, s[:, R0 : R0 + 4])

    # Start time of the current run below 0.9 pu / above 1.1 pu on any phase (0 = no run).
    under = (vph_pu < UNDER_PU).any(axis=1)
    over = (vph_pu > OVER_PU).any(axis=1)
    s[:, E0] = np.where(under, np.where(s[:, E0] > 0, s[:, E0], t), 0.0)
    s[:, E0 + 1] = np.where(over, np.where(s[:, E0 + 1] > 0, s[:, E0 + 1], t), 0.0)
    return s


def window_features(after: F64, t: F64) -> dict[str, F64]:
    """Window statistics from the states *including* the current reading (NaN where the
    window is not supported at this meter's cadence or history)."""
    out: dict[str, F64] = {}
    for w, (label, tau) in enumerate(TIME_WINDOWS):
        b = W0 + w * WINDOW_BLOCK
        sw = after[:, b]
        ok = (sw >= MIN_EFFECTIVE_READINGS) & (t - after[:, b + 1] >= tau)
        ctt = after[:, b + 3]
        out[f"win{label}_effective_readings"] = sw
        for q, name in enumerate(WINDOW_QUANTITIES):
            k = b + 4 + 3 * q
            std = np.sqrt(np.maximum(after[:, k + 2], 0.0) / np.where(sw > 0, sw, 1.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                slope = np.where(ctt > 0, after[:, k + 1] / np.where(ctt > 0, ctt, 1.0), np.nan)
            out[f"win{label}_{name}_mean"] = np.where(ok, after[:, k], np.nan)
            out[f"win{label}_{name}_std"] = np.where(ok, std, np.nan)
            out[f"win{label}_{name}_trend_per_s"] = np.where(ok, slope, np.nan)
    return out


def baseline_features(
    before: F64, t: F64, vph_pu: F64, dt_s: F64, nominal_v: F64 | None = None
) -> dict[str, F64]:
    """The meter's baseline *before* the current reading, the reading's z-scores against it,
    and how long the current IEEE 1159 under/over-voltage run has lasted.

    z = (U_pu − baseline mean) / √(baseline spread² + floor²), per phase (dimensionless).
    The run duration is the time since the run's first reading plus this reading's own
    interval Δt (a lower bound of the event's duration; 0 when the reading is not in the band).
    """
    fresh = (before[:, 0] != STATE_LAYOUT) | _other_scale(before, nominal_v)
    sw_prior = np.where(fresh, 0.0, before[:, B0])
    decay = np.exp(-np.maximum(t - before[:, B0 + 2], 0.0) / BASELINE_TAU_S)
    eff = sw_prior * decay
    span = np.where(sw_prior > 0, t - before[:, B0 + 1], 0.0)
    ok = (eff >= BASELINE_MIN_EFFECTIVE) & (span >= BASELINE_MIN_SPAN_S)
    out: dict[str, F64] = {"baseline_effective_readings": eff, "baseline_span_s": span}
    for p, ph in enumerate("abc"):
        mean = np.where(ok, before[:, B0 + 3 + 2 * p], np.nan)
        std = np.where(
            ok,
            np.sqrt(np.maximum(before[:, B0 + 4 + 2 * p], 0.0) / np.where(sw_prior > 0, sw_prior, 1.0)),
            np.nan,
        )
        out[f"baseline_voltage_{ph}_pu_mean"] = mean
        out[f"baseline_voltage_{ph}_pu_std"] = std
        out[f"voltage_{ph}_baseline_z"] = (vph_pu[:, p] - mean) / np.sqrt(
            std**2 + BASELINE_SPREAD_FLOOR_PU**2
        )
    dr = np.exp(-np.maximum(t - before[:, B0 + 2], 0.0) / RECENT_TAU_S)
    sw_r = np.where(fresh, 0.0, before[:, R0])
    ok_r = (sw_r * dr >= MIN_EFFECTIVE_READINGS) & (t - before[:, R0 + 1] >= RECENT_TAU_S) & (sw_r > 0)
    ok_r &= ~fresh
    out["inband10min_voltage_mean_pu_mean"] = np.where(ok_r, before[:, R0 + 2], np.nan)
    out["inband10min_voltage_mean_pu_std"] = np.where(
        ok_r, np.sqrt(np.maximum(before[:, R0 + 3], 0.0) / np.where(sw_r > 0, sw_r, 1.0)), np.nan
    )
    dt = np.where(np.isfinite(dt_s), np.maximum(dt_s, 0.0), 0.0)
    under = (vph_pu < UNDER_PU).any(axis=1)
    over = (vph_pu > OVER_PU).any(axis=1)
    since_u = np.where(fresh, 0.0, before[:, E0])
    since_o = np.where(fresh, 0.0, before[:, E0 + 1])
    out["undervoltage_duration_s"] = np.where(under, np.where(since_u > 0, t - since_u, 0.0) + dt, 0.0)
    out["overvoltage_duration_s"] = np.where(over, np.where(since_o > 0, t - since_o, 0.0) + dt, 0.0)
    return out


def chain_states(
    initial: F64, group: NDArray[np.intp], t: F64, y: F64, vph_pu: F64, nominal_v: F64 | None = None
) -> F64:
    """Each row's state *before* it, for rows ordered within each group.

    ``initial[g]`` is group g's state before its first row; rows of a group are applied in
    row order. Loops over the position within the group (not over rows), vectorised across
    groups: the training path (every meter from empty) and the serving path (each meter
    from its stored state, then the batch's earlier readings) both use it.
    """
    n = len(group)
    before = np.empty((n, STATE_LEN))
    if n == 0:
        return before
    cur = np.array(initial, dtype=np.float64, copy=True)
    order = np.argsort(group, kind="stable")
    g_sorted = group[order]
    first = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.empty(n, dtype=np.intp)
    pos[order] = np.arange(n) - start
    by_pos = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[by_pos], np.arange(pos.max() + 2))
    for k in range(pos.max() + 1):
        rows = by_pos[bounds[k] : bounds[k + 1]]
        g = group[rows]
        before[rows] = cur[g]
        cur[g] = advance(
            cur[g], t[rows], y[rows], vph_pu[rows], None if nominal_v is None else nominal_v[rows]
        )
    return before
