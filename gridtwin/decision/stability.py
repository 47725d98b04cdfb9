"""Inputs of the grid-stability ensemble shared by training and serving.

Raw features: the reading's voltage, current, power, balance, frequency and time-window
features (schema names: spans of real time, IEC 61000-4-30 10-min and 2-h intervals; NaN where
the cadence cannot support the window, e.g. 10 min at a 15-min cadence). Upstream features: numeric outputs of the monitoring/maintenance
models read from `batch.upstream` when their status is OK (NaN otherwise, then imputed with
the training median like any missing value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridtwin.v1 import assessment_pb2

RAW_FEATURES = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "voltage_min_pu",
    "voltage_max_pu",
    "voltage_spread_pu",
    "current_max_a",
    "current_mean_a",
    "current_neutral_est_a",
    "current_iuf_est_pct",
    "frequency_deviation_hz",
    "rocof_abs_hz_per_s",
    "active_power_total_w",
    "reactive_power_total_var",
    "power_factor_total",
    "vuf_pct",
    "pvur_pct",
    "current_unbalance_pct",
    "power_unbalance_pct",
    "win10min_voltage_mean_pu_mean",
    "win10min_voltage_mean_pu_std",
    "win10min_voltage_mean_pu_trend_per_s",
    "win2h_voltage_mean_pu_mean",
    "win2h_voltage_mean_pu_std",
    "win10min_current_mean_a_mean",
    "win10min_current_mean_a_std",
    "win10min_current_mean_a_trend_per_s",
    "win2h_current_mean_a_mean",
    "win10min_frequency_hz_std",
    "win10min_active_power_total_w_std",
    "win10min_active_power_total_w_trend_per_s",
    "dv_dt_pu_per_s",
    "di_dt_a_per_s",
    "dp_dt_w_per_s",
    "history_count",
    "ambient_temperature_c",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "en50160_voltage_within_10pct",
    "ieee1159_sag_band",
    "ieee1159_swell_band",
    "ieee1159_interruption_band",
)
# (Assessment field, output field) of the upstream models' numeric outputs.
UPSTREAM = (
    ("voltage_anomaly", "anomaly_score"),
    ("frequency_stability", "stability_score"),
    ("phase_imbalance", "vuf_pct"),
    ("equipment_failure", "failure_probability"),
    ("overload_risk", "overload_probability"),
    ("overload_risk", "loading_pct"),
    ("power_quality_index", "pqi"),
    ("voltage_sag", "sag_probability"),
)


def upstream_matrix(upstream: Sequence[assessment_pb2.Assessment], used: Sequence[str]) -> np.ndarray:
    """(n, len(used)) upstream outputs named "field.output"; NaN where the model was not OK."""
    out = np.full((len(upstream), len(used)), np.nan)
    pairs = [u.split(".", 1) for u in used]
    for i, a in enumerate(upstream):
        for j, (fld, attr) in enumerate(pairs):
            msg = getattr(a, fld)
            if msg.info.status == assessment_pb2.OK:
                out[i, j] = getattr(msg, attr)
    return out
