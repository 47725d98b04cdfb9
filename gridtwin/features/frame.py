"""Offline (training) path: a simulator DataFrame → the feature matrix.

Input columns (exact names, shared with the simulator): ``meter_id``, ``timestamp`` (UTC),
``voltage_a/_b/_c`` (V), ``current_a/_b/_c`` (A), ``active_power_a/_b/_c`` (W),
``reactive_power_a/_b/_c`` (var), ``frequency`` (Hz), ``nominal_voltage`` (V),
``nominal_frequency`` (Hz); optional ``ambient_temperature`` (degC) and
``thd_voltage_a_pct/_b_pct/_c_pct`` (exact THD from the simulator's harmonic model, %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from gridtwin.features.arrays import ReadingArrays, build_history, history_records
from gridtwin.features.core import compute_features, window_inputs
from gridtwin.features.nominal import infer_nominal_frequency_hz, infer_nominal_voltage_v
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.features.timewindows import chain_states, empty_states

_PH = ("a", "b", "c")
#: Rows per chunk when building history windows (bounds memory to ~20 MB per chunk).
CHUNK_ROWS = 25_000


def timestamps_to_seconds(ts: pd.Series) -> NDArray[np.float64]:
    """UTC timestamps (naive = UTC) → Unix seconds as integer nanoseconds / 1e9."""
    t = pd.to_datetime(ts, utc=True)
    ns = t.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    return ns.astype(np.int64) / 1e9


def _resolve_nominal(
    df: pd.DataFrame, column: str, inferred_first: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Mirror of the serving rule: explicit value, else the meter's last explicit value, else
    the value inferred from the meter's first reading (flagged inferred)."""
    given = df[column] if column in df.columns else pd.Series(np.nan, index=df.index)
    filled = given.astype(float).groupby(df["meter_id"].to_numpy(), sort=False).ffill()
    inferred = filled.isna().to_numpy()
    out = np.where(inferred, inferred_first, filled.to_numpy())
    return out.astype(float), inferred


def arrays_from_dataframe(df: pd.DataFrame) -> ReadingArrays:
    """``ReadingArrays`` of an already sorted DataFrame (see :func:`features_from_dataframe`)."""

    def tri(prefix: str) -> NDArray[np.float64]:
        return df[[f"{prefix}_{p}" for p in _PH]].to_numpy(dtype=float)

    n = len(df)
    v = tri("voltage")
    f = df["frequency"].to_numpy(dtype=float)
    meter = df["meter_id"].to_numpy()
    first = np.r_[True, meter[1:] != meter[:-1]] if n else np.zeros(0, bool)
    first_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else first
    cand_v = infer_nominal_voltage_v(v.mean(axis=1))[first_idx]
    cand_f = infer_nominal_frequency_hz(f)[first_idx]
    vn, inf_v = _resolve_nominal(df, "nominal_voltage", cand_v)
    fn, inf_f = _resolve_nominal(df, "nominal_frequency", cand_f)
    thd_cols = [f"thd_voltage_{p}_pct" for p in _PH]
    thd = (
        df[thd_cols].to_numpy(dtype=float)
        if all(c in df.columns for c in thd_cols)
        else np.full((n, 3), np.nan)
    )
    amb = (
        df["ambient_temperature"].to_numpy(dtype=float)
        if "ambient_temperature" in df.columns
        else np.full(n, np.nan)
    )
    return ReadingArrays(
        timestamp_s=timestamps_to_seconds(df["timestamp"]),
        voltage_v=v,
        current_a=tri("current"),
        active_power_w=tri("active_power"),
        reactive_power_var=tri("reactive_power"),
        frequency_hz=f,
        nominal_voltage_v=vn,
        nominal_frequency_hz=fn,
        nominal_inferred=(inf_v | inf_f).astype(float),
        ambient_temperature_c=amb,
        thd_voltage_pct=thd,
    )


def features_from_dataframe(df: pd.DataFrame) -> pd.DataFrame:
    """Feature table for offline training.

    Sorts by (meter_id, timestamp) (stable), builds each row's previous ≤ 10 readings of the same
    meter and its time-window state (the same recurrence the Redis script runs), and runs :func:`compute_features` — the same core the serving path uses. Returns a
    DataFrame with ``meter_id``, ``timestamp`` and one column per name in ``FEATURE_NAMES``, in
    sorted order, keeping the input's index labels so labels can be joined with ``.loc``.
    """
    d = df.sort_values(["meter_id", "timestamp"], kind="stable")
    cur = arrays_from_dataframe(d)
    n = len(cur)
    meter = d["meter_id"].to_numpy()
    first = np.r_[True, meter[1:] != meter[:-1]] if n else np.zeros(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0)) if n else np.zeros(0)
    records = history_records(cur)
    group = (np.cumsum(first) - 1).astype(np.intp) if n else np.zeros(0, np.intp)
    y_win, vph = window_inputs(cur)
    n_groups = int(group[-1]) + 1 if n else 0
    state = chain_states(empty_states(n_groups), group, cur.timestamp_s, y_win, vph, cur.nominal_voltage_v)
    parts = []
    for s in range(0, n, CHUNK_ROWS):
        rows = np.arange(s, min(n, s + CHUNK_ROWS))
        parts.append(compute_features(cur.take(rows), build_history(records, group_start, rows), state[rows]))
    mat = np.vstack(parts) if parts else np.empty((0, len(FEATURE_NAMES)))
    out = pd.DataFrame(mat, columns=list(FEATURE_NAMES), index=d.index)
    out.insert(0, "timestamp", d["timestamp"].to_numpy())
    out.insert(0, "meter_id", meter)
    return out
