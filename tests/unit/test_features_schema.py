"""Feature schema: version, size, uniqueness, required names, documentation."""

import pathlib
import re

from gridtwin.features import schema

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_version_and_size() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", schema.SCHEMA_VERSION)
    assert len(schema.FEATURE_NAMES) >= 80
    assert len(set(schema.FEATURE_NAMES)) == len(schema.FEATURE_NAMES) == schema.N_FEATURES


def test_required_names_present() -> None:
    names = set(schema.FEATURE_NAMES)
    required = {
        "voltage_a_pu",
        "voltage_mean_v",
        "vuf_pct",
        "lvur_pct",
        "pvur_pct",
        "current_unbalance_pct",
        "apparent_power_total_va",
        "power_factor_total",
        "frequency_deviation_hz",
        "rocof_hz_per_s",
        "dt_s",
        "thd_voltage_max_pct",
        "thd_available",
        "dv_dt_pu_per_s",
        "en50160_voltage_within_10pct",
        "en50160_frequency_within_1pct",
    }
    required |= {f"frequency_lag_{k}" for k in range(10)}
    required |= {f"dt_lag_{k}" for k in range(10)}
    required |= {f"active_power_total_lag_{k}" for k in range(10)}
    assert required <= names


def test_no_count_based_window() -> None:
    """Issue 9: windowed statistics are spans of real time, never "the last N readings"."""
    assert not [n for n in schema.FEATURE_NAMES if n.startswith("rolling")]
    assert not hasattr(schema, "ROLLING") and not hasattr(schema, "ROLLING_WINDOW")
    for label, _ in schema.TIME_WINDOWS:
        for stat in ("mean", "std", "trend_per_s"):
            assert f"win{label}_voltage_mean_pu_{stat}" in schema.FEATURE_INDEX


def test_every_feature_documented() -> None:
    doc = (ROOT / "docs" / "features.md").read_text()
    missing = [n for n in schema.FEATURE_NAMES if f"`{n}`" not in doc]
    assert not missing, missing
    assert schema.SCHEMA_VERSION in doc
