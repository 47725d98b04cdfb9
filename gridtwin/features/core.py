"""The vectorised feature core shared by training (DataFrame) and serving (Redis).

``compute_features(current, history, state)`` turns n readings, their previous ≤ 10 readings and
their meters' time-window state (:mod:`gridtwin.features.timewindows`) into an
(n, N_FEATURES) float64 matrix in :data:`~gridtwin.features.schema.FEATURE_NAMES` order. No Python
loop runs over rows. Definitions, units and references are in docs/features.md.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridtwin.features.arrays import HistoryArrays, ReadingArrays, history_records
from gridtwin.features.schema import FEATURE_NAMES, N_LAGS
from gridtwin.features.timewindows import advance, baseline_features, empty_states, window_features
from gridtwin.physics import en50160
from gridtwin.physics.harmonics import EN50160_THD_LIMIT_PCT
from gridtwin.physics.limits import rocof_hz_per_s
from gridtwin.physics.power import compensation_var, power_factor_signed
from gridtwin.physics.symmetrical import (
    PHASE_ANGLES_RAD,
    line_magnitudes_from_phase_magnitudes,
    lvur_pct,
    max_deviation_from_mean_pct,
    pvur_pct,
    symmetrical_components,
    vuf_from_line_magnitudes_pct,
)

F64 = NDArray[np.float64]
_PHASES = ("a", "b", "c")
#: Target PF of the ``compensation_to_pf095_var`` feature.
TARGET_PF = 0.95


def _safe_div(num: F64, den: F64, fill: float = np.nan) -> F64:
    ok = (den != 0) & np.isfinite(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, num / np.where(ok, den, 1.0), fill)


def _rate(now: F64, before: F64, dt: F64) -> F64:
    """(now − before) / Δt per second; NaN where Δt ≤ 0 or no previous reading."""
    return rocof_hz_per_s(now, before, dt)


def window_inputs(cur: ReadingArrays) -> tuple[F64, F64]:
    """(y, phase pu) of the time-window state: ``WINDOW_QUANTITIES`` per row and U/U_n per phase."""
    v, vn = cur.voltage_v, cur.nominal_voltage_v
    p, q = cur.active_power_w, cur.reactive_power_var
    y = np.column_stack(
        [
            v.mean(axis=1) / vn,
            cur.current_a.mean(axis=1),
            cur.frequency_hz,
            p[:, 0] + p[:, 1] + p[:, 2],
            q[:, 0] + q[:, 1] + q[:, 2],
        ]
    )
    return y, v / vn[:, None]


def _identical_run(cur_rec: F64, hist: HistoryArrays) -> tuple[F64, F64]:
    """Consecutive previous readings identical to this one in every measured field (voltages,
    currents, P, Q, f), and the time they span (s): a frozen sensor repeats itself exactly
    where a live meter's noise and load never do."""
    same = np.all(hist.records[:, :, 1:] == cur_rec[:, None, 1:], axis=2)
    run = np.cumprod(same, axis=1).sum(axis=1)
    oldest = np.take_along_axis(hist.records[:, :, 0], np.maximum(run - 1, 0)[:, None], axis=1)[:, 0]
    span = np.where(run > 0, cur_rec[:, 0] - oldest, 0.0)
    return run.astype(float), span


def compute_features(current: ReadingArrays, history: HistoryArrays, state: F64 | None = None) -> F64:
    """Feature matrix (n, N_FEATURES) for n readings given their history windows.

    ``current`` holds the readings (see :class:`ReadingArrays`), ``history`` the previous ≤ 10
    readings of the same meter per row (newest first, NaN padded), ``state`` each row's
    time-window state *before* the reading (``(n, STATE_LEN)``; None = the meter's first
    reading). Deterministic and row-independent: row i depends only on row i of the inputs.
    """
    cur, hist = current, history
    t = cur.timestamp_s
    v, i = cur.voltage_v, cur.current_a
    p, q = cur.active_power_w, cur.reactive_power_var
    f = cur.frequency_hz
    vn, fn = cur.nominal_voltage_v, cur.nominal_frequency_hz
    col: dict[str, F64] = {}

    # --- voltage -------------------------------------------------------------------------
    vpu = v / vn[:, None]
    for k, ph in enumerate(_PHASES):
        col[f"voltage_{ph}_pu"] = vpu[:, k]
    vmean = v.mean(axis=1)
    vmean_pu = vmean / vn
    col["voltage_mean_v"] = vmean
    col["voltage_mean_pu"] = vmean_pu
    col["voltage_deviation_pct"] = (vmean_pu - 1.0) * 100.0
    col["voltage_min_pu"] = vpu.min(axis=1)
    col["voltage_max_pu"] = vpu.max(axis=1)
    uab, ubc, uca = line_magnitudes_from_phase_magnitudes(v[:, 0], v[:, 1], v[:, 2])
    col["voltage_ab_v"], col["voltage_bc_v"], col["voltage_ca_v"] = uab, ubc, uca

    # --- current -------------------------------------------------------------------------
    for k, ph in enumerate(_PHASES):
        col[f"current_{ph}_a"] = i[:, k]
    imean = i.mean(axis=1)
    col["current_mean_a"] = imean
    col["current_max_a"] = i.max(axis=1)
    col["current_min_a"] = i.min(axis=1)
    phi = np.arctan2(q, p)  # current lags voltage by phi (load convention)
    iph = i * np.exp(1j * (PHASE_ANGLES_RAD[None, :] - phi))
    i0, i1, i2 = symmetrical_components(iph[:, 0], iph[:, 1], iph[:, 2])
    col["current_neutral_est_a"] = 3.0 * np.abs(i0)
    col["current_pos_seq_est_a"] = np.abs(i1)
    col["current_neg_seq_est_a"] = np.abs(i2)
    col["current_zero_seq_est_a"] = np.abs(i0)
    col["current_iuf_est_pct"] = _safe_div(np.abs(i2), np.abs(i1), 0.0) * 100.0

    # --- frequency -----------------------------------------------------------------------
    prev = hist.records[:, 0, :]
    t_prev = prev[:, 0]
    dt = t - t_prev
    f_prev = hist.field("frequency_hz")[:, 0]
    rocof = rocof_hz_per_s(f, f_prev, dt)
    col["frequency_hz"] = f
    col["frequency_deviation_hz"] = f - fn
    col["frequency_deviation_pct"] = (f / fn - 1.0) * 100.0
    col["rocof_hz_per_s"] = rocof
    col["rocof_abs_hz_per_s"] = np.abs(rocof)
    col["nominal_frequency_hz"] = fn

    # --- power ---------------------------------------------------------------------------
    s = np.hypot(p, q)
    pf = power_factor_signed(p, q, undefined=1.0)
    for k, ph in enumerate(_PHASES):
        col[f"active_power_{ph}_w"] = p[:, k]
        col[f"reactive_power_{ph}_var"] = q[:, k]
        col[f"apparent_power_{ph}_va"] = s[:, k]
        col[f"power_factor_{ph}"] = pf[:, k]
    pt, qt = p.sum(axis=1), q.sum(axis=1)
    col["active_power_total_w"] = pt
    col["reactive_power_total_var"] = qt
    col["apparent_power_total_va"] = s.sum(axis=1)
    pf_total = power_factor_signed(pt, qt, undefined=1.0)
    col["power_factor_total"] = pf_total

    # --- balance -------------------------------------------------------------------------
    vuf = vuf_from_line_magnitudes_pct(uab, ubc, uca)
    col["vuf_pct"] = vuf
    col["lvur_pct"] = lvur_pct(uab, ubc, uca)
    col["pvur_pct"] = pvur_pct(v[:, 0], v[:, 1], v[:, 2])
    iu = max_deviation_from_mean_pct(i[:, 0], i[:, 1], i[:, 2])
    col["current_unbalance_pct"] = np.where(imean == 0, 0.0, iu)

    # --- quality (exact THD only) --------------------------------------------------------
    thd = cur.thd_voltage_pct
    avail = np.isfinite(thd).any(axis=1)
    thd_max = np.where(avail, np.where(np.isfinite(thd), thd, -np.inf).max(axis=1), np.nan)
    for k, ph in enumerate(_PHASES):
        col[f"thd_voltage_{ph}_pct"] = thd[:, k]
    col["thd_voltage_max_pct"] = thd_max
    col["thd_available"] = avail.astype(float)

    # --- lags (k = 0 is the current reading) --------------------------------------------
    t_all = np.column_stack([t, hist.records[:, :, 0]])
    f_all = np.column_stack([f, hist.records[:, : N_LAGS - 1, 9]])
    p_all = np.column_stack([pt, hist.records[:, : N_LAGS - 1, 7]])
    dt_all = t_all[:, :N_LAGS] - t_all[:, 1 : N_LAGS + 1]
    for k in range(N_LAGS):
        col[f"frequency_lag_{k}"] = f_all[:, k]
        col[f"dt_lag_{k}"] = dt_all[:, k]
        col[f"active_power_total_lag_{k}"] = p_all[:, k]

    # --- derived -------------------------------------------------------------------------
    col["dt_s"] = dt
    col["history_count"] = hist.count.astype(float)
    col["dv_dt_pu_per_s"] = _rate(vmean_pu, prev[:, 1:4].mean(axis=1) / vn, dt)
    col["di_dt_a_per_s"] = _rate(imean, prev[:, 4:7].mean(axis=1), dt)
    col["dp_dt_w_per_s"] = _rate(pt, prev[:, 7], dt)
    col["dq_dt_var_per_s"] = _rate(qt, prev[:, 8], dt)
    pabs = np.abs(p).mean(axis=1)
    pdev = np.abs(p - p.mean(axis=1, keepdims=True)).max(axis=1)
    col["power_unbalance_pct"] = _safe_div(pdev, pabs, 0.0) * 100.0
    col["reactive_share_total"] = _safe_div(qt, np.hypot(pt, qt), 0.0)
    need = (pt > 0) & (qt > 0) & (pf_total < TARGET_PF)
    col["compensation_to_pf095_var"] = np.where(need, compensation_var(pt, np.abs(pf_total), TARGET_PF), 0.0)
    col["voltage_spread_pu"] = col["voltage_max_pu"] - col["voltage_min_pu"]
    col["voltage_ll_mean_v"] = (uab + ubc + uca) / 3.0
    col["nominal_voltage_v"] = vn
    col["nominal_inferred"] = cur.nominal_inferred
    col["ambient_temperature_c"] = cur.ambient_temperature_c
    hour = np.mod(t, 86400.0) / 3600.0
    dow = np.mod(np.floor(t / 86400.0) + 3.0, 7.0)  # 1970-01-01 was a Thursday; Monday = 0
    col["hour_of_day_sin"] = np.sin(2 * np.pi * hour / 24.0)
    col["hour_of_day_cos"] = np.cos(2 * np.pi * hour / 24.0)
    col["day_of_week_sin"] = np.sin(2 * np.pi * dow / 7.0)
    col["day_of_week_cos"] = np.cos(2 * np.pi * dow / 7.0)
    vn2 = vn[:, None]
    col["en50160_voltage_within_10pct"] = en50160.voltage_within_10pct(v, vn2).all(axis=1)
    col["en50160_voltage_within_plus10_minus15pct"] = en50160.voltage_within_plus10_minus15pct(v, vn2).all(
        axis=1
    )
    col["en50160_frequency_within_1pct"] = en50160.frequency_within_normal_band(f, fn)
    col["en50160_frequency_within_47_52hz"] = en50160.frequency_within_always_band(f, fn)
    col["en50160_vuf_within_2pct"] = vuf <= en50160.EN50160_VUF_LIMIT_PCT
    col["en50160_thd_within_8pct"] = np.where(avail, thd_max <= EN50160_THD_LIMIT_PCT, np.nan)
    col["ieee1159_sag_band"] = ((vpu >= 0.1) & (vpu < 0.9)).any(axis=1)
    col["ieee1159_swell_band"] = (vpu > 1.1 + 1e-9).any(axis=1)
    col["ieee1159_interruption_band"] = (vpu < 0.1).any(axis=1)

    # --- time-based windows and the meter's baseline (docs/features.md) -----------------
    before = empty_states(len(t)) if state is None else state
    y_win, vph = window_inputs(cur)
    col.update(window_features(advance(before, t, y_win, vph, vn), t))
    col.update(baseline_features(before, t, vph, dt, vn))
    run, span = _identical_run(history_records(cur), hist)
    col["identical_readings_run"] = run
    col["identical_readings_span_s"] = span

    return np.column_stack([np.asarray(col[name], dtype=np.float64) for name in FEATURE_NAMES])
