"""Versioned feature schema. Every name is documented in docs/features.md.

Bump :data:`SCHEMA_VERSION` (semver) whenever a name, order, unit or definition changes:
models record the schema version they were trained on.

2.0.0: time-based windows (``win3s_*``, ``win10min_*``, ``win2h_*``: exponentially
time-weighted over the IEC 61000-4-30 intervals, NaN where the cadence cannot support them),
the per-meter voltage baseline and z-scores, IEEE 1159 run durations and the frozen-sensor run.

3.0.0: the count-based ``rolling5_*`` columns ("the last 5 readings") are removed: every
windowed feature is now a span of real time (the ``win*`` columns), so a 5-reading window no
longer means 5 s at one cadence and 75 min at another. Models trained on 2.x are refused.
The Redis state keeps its layout (the 10-reading list still feeds the lags, rates and the
frozen-sensor run; the time-window state is unchanged): see docs/features.md "Migration".
"""

from __future__ import annotations

from gridtwin.features.timewindows import TIME_WINDOWS, WINDOW_QUANTITIES, WINDOW_STATS

SCHEMA_VERSION = "3.0.0"

#: Readings kept per meter for the lags, rates and identical-reading run (previous readings,
#: not counting the current). No windowed statistic is computed over them.
HISTORY_DEPTH = 10
#: Number of lag steps exposed for frequency, Δt and total active power.
N_LAGS = 10

_PHASES = ("a", "b", "c")

VOLTAGE: tuple[str, ...] = (
    *(f"voltage_{p}_pu" for p in _PHASES),
    "voltage_mean_v",
    "voltage_mean_pu",
    "voltage_deviation_pct",
    "voltage_min_pu",
    "voltage_max_pu",
    "voltage_ab_v",
    "voltage_bc_v",
    "voltage_ca_v",
)
CURRENT: tuple[str, ...] = (
    *(f"current_{p}_a" for p in _PHASES),
    "current_mean_a",
    "current_max_a",
    "current_min_a",
    "current_neutral_est_a",
    "current_pos_seq_est_a",
    "current_neg_seq_est_a",
    "current_zero_seq_est_a",
    "current_iuf_est_pct",
)
FREQUENCY: tuple[str, ...] = (
    "frequency_hz",
    "frequency_deviation_hz",
    "frequency_deviation_pct",
    "rocof_hz_per_s",
    "rocof_abs_hz_per_s",
    "nominal_frequency_hz",
)
POWER: tuple[str, ...] = (
    *(f"active_power_{p}_w" for p in _PHASES),
    *(f"reactive_power_{p}_var" for p in _PHASES),
    *(f"apparent_power_{p}_va" for p in _PHASES),
    "active_power_total_w",
    "reactive_power_total_var",
    "apparent_power_total_va",
    *(f"power_factor_{p}" for p in _PHASES),
    "power_factor_total",
)
BALANCE: tuple[str, ...] = ("vuf_pct", "lvur_pct", "pvur_pct", "current_unbalance_pct")
QUALITY: tuple[str, ...] = (
    *(f"thd_voltage_{p}_pct" for p in _PHASES),
    "thd_voltage_max_pct",
    "thd_available",
)
LAGS: tuple[str, ...] = (
    *(f"frequency_lag_{k}" for k in range(N_LAGS)),
    *(f"dt_lag_{k}" for k in range(N_LAGS)),
    *(f"active_power_total_lag_{k}" for k in range(N_LAGS)),
)
DERIVED: tuple[str, ...] = (
    "dt_s",
    "history_count",
    "dv_dt_pu_per_s",
    "di_dt_a_per_s",
    "dp_dt_w_per_s",
    "dq_dt_var_per_s",
    "power_unbalance_pct",
    "reactive_share_total",
    "compensation_to_pf095_var",
    "voltage_spread_pu",
    "voltage_ll_mean_v",
    "nominal_voltage_v",
    "nominal_inferred",
    "ambient_temperature_c",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "day_of_week_sin",
    "day_of_week_cos",
    "en50160_voltage_within_10pct",
    "en50160_voltage_within_plus10_minus15pct",
    "en50160_frequency_within_1pct",
    "en50160_frequency_within_47_52hz",
    "en50160_vuf_within_2pct",
    "en50160_thd_within_8pct",
    "ieee1159_sag_band",
    "ieee1159_swell_band",
    "ieee1159_interruption_band",
)

WINDOWS: tuple[str, ...] = tuple(
    name
    for label, _ in TIME_WINDOWS
    for name in (
        f"win{label}_effective_readings",
        *(f"win{label}_{q}_{s}" for q in WINDOW_QUANTITIES for s in WINDOW_STATS),
    )
)
BASELINE: tuple[str, ...] = (
    "baseline_effective_readings",
    "baseline_span_s",
    *(f"baseline_voltage_{p}_pu_{s}" for p in _PHASES for s in ("mean", "std")),
    *(f"voltage_{p}_baseline_z" for p in _PHASES),
    "inband10min_voltage_mean_pu_mean",
    "inband10min_voltage_mean_pu_std",
    "undervoltage_duration_s",
    "overvoltage_duration_s",
    "identical_readings_run",
    "identical_readings_span_s",
)

#: Feature groups in vector order.
GROUPS: dict[str, tuple[str, ...]] = {
    "voltage": VOLTAGE,
    "current": CURRENT,
    "frequency": FREQUENCY,
    "power": POWER,
    "balance": BALANCE,
    "quality": QUALITY,
    "lags": LAGS,
    "derived": DERIVED,
    "windows": WINDOWS,
    "baseline": BASELINE,
}

FEATURE_NAMES: tuple[str, ...] = tuple(name for group in GROUPS.values() for name in group)
N_FEATURES = len(FEATURE_NAMES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}

if len(set(FEATURE_NAMES)) != N_FEATURES:  # pragma: no cover - guarded by a unit test too
    raise RuntimeError("duplicate feature names in schema")
