"""Inputs of the grid-stability ensemble shared by training and serving.

Raw features: the reading's voltage, current, power, balance, frequency and rolling-history
features (schema names). Upstream features: numeric outputs of the monitoring/maintenance
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
    "rolling5_voltage_mean_pu_mean",
    "rolling5_voltage_mean_pu_std",
    "rolling5_voltage_mean_pu_min",
    "rolling5_voltage_mean_pu_max",
    "rolling5_voltage_mean_pu_trend_per_s",
    "rolling5_current_mean_a_mean",
    "rolling5_current_mean_a_std",
    "rolling5_current_mean_a_trend_per_s",
    "rolling5_frequency_hz_std",
    "rolling5_active_power_total_w_std",
    "rolling5_active_power_total_w_trend_per_s",
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


def upstream_registry(ctx: object) -> str | None:
    """Where the upstream models of this training run are registered, if known.

    `TrainContext` has no registry field yet: a `registry` attribute is used when the pipeline
    provides one, else `$GRIDTWIN_REGISTRY`; without either no upstream outputs are used.
    """
    import os

    return getattr(ctx, "registry", None) or os.environ.get("GRIDTWIN_REGISTRY") or None


def run_upstream(
    registry: str, frame, feature_names: Sequence[str], schema_version: str, chunk: int = 4096
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Run the registered, served upstream models on training rows (training path).

    `frame` holds meter_id, timestamp and the schema features. Models that need per-meter
    Redis state get no `prepare` here and answer DEGRADED/UNAVAILABLE: their outputs are NaN.
    Returns (n, len(UPSTREAM)) values, the "field.output" names and per-field status notes.
    """
    import pandas as pd
    from google.protobuf.timestamp_pb2 import Timestamp

    from gridtwin.registry import RegistryError, load_entry
    from gridtwin.serving.model import ModuleBatch
    from gridtwin.serving.module import default_factory
    from gridtwin.v1 import reading_pb2

    names = [f"{f}.{o}" for f, o in UPSTREAM]
    out = np.full((len(frame), len(UPSTREAM)), np.nan)
    notes: dict[str, str] = {}
    x = frame[list(feature_names)].to_numpy(float)
    stamps = pd.to_datetime(frame["timestamp"]).astype("int64").to_numpy()
    meters = frame["meter_id"].astype(str).to_numpy()
    readings = []
    for m, t in zip(meters, stamps, strict=True):
        ts = Timestamp()
        ts.FromNanoseconds(int(t))
        readings.append(reading_pb2.Reading(meter_id=m, timestamp=ts))
    for fld in dict.fromkeys(f for f, _ in UPSTREAM):
        try:
            entry = load_entry(fld, registry)
        except RegistryError as exc:
            notes[fld] = f"rejected: {exc}"
            continue
        factory = default_factory(fld)
        if entry is None or factory is None:
            notes[fld] = "not registered"
            continue
        cols = [j for j, (f, _) in enumerate(UPSTREAM) if f == fld]
        try:  # an upstream model that cannot load or answer is left out, like in serving
            model = factory(entry)
            for a in range(0, len(frame), chunk):
                b = ModuleBatch(
                    readings=readings[a : a + chunk],
                    features=x[a : a + chunk],
                    feature_names=feature_names,
                    schema_version=schema_version,
                    upstream=[assessment_pb2.Assessment() for _ in range(min(chunk, len(frame) - a))],
                )
                for i, msg in enumerate(model.predict(b)):
                    if msg.info.status == assessment_pb2.OK:
                        for j in cols:
                            out[a + i, j] = getattr(msg, UPSTREAM[j][1])
        except Exception as exc:  # noqa: BLE001 - any failure of another team's model is reported, not fatal
            out[:, cols] = np.nan
            notes[fld] = f"failed: {type(exc).__name__}: {exc}"
            continue
        notes[fld] = f"{entry.version}: {np.isfinite(out[:, cols[0]]).mean():.0%} of rows OK"
    return out, names, notes
