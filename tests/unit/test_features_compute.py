"""Known feature values for a hand-made 120 V / 60 Hz reading sequence; both adapters agree."""

import math

import numpy as np
import pandas as pd
import pytest

from gridtwin.features.arrays import build_history, history_records
from gridtwin.features.compute import arrays_from_protos, compute_features
from gridtwin.features.core import window_inputs
from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_INDEX, FEATURE_NAMES
from gridtwin.features.timewindows import chain_states, empty_states
from gridtwin.v1 import reading_pb2

T0 = pd.Timestamp("2024-01-01T00:00:00Z")  # a Monday, 00:00 UTC


def _row(t_s, v, i, p, q, f, meter="m120", vn=120.0, fn=60.0):
    row = {
        "meter_id": meter,
        "timestamp": T0 + pd.Timedelta(seconds=t_s),
        "frequency": f,
        "nominal_voltage": vn,
        "nominal_frequency": fn,
    }
    for name, vals in (("voltage", v), ("current", i), ("active_power", p), ("reactive_power", q)):
        for ph, x in zip("abc", vals, strict=True):
            row[f"{name}_{ph}"] = float(x)
    return row


def hand_df() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _row(0.0, (120, 120, 120), (10, 10, 10), (1000, 1000, 1000), (0, 0, 0), 60.0),
            _row(0.5, (114, 120, 126), (10, 12, 8), (600, 1200, 800), (800, -500, 0), 59.9),
            _row(2.5, (120, 120, 120), (10, 10, 10), (1000, 1000, 1000), (0, 0, 0), 59.95),
        ]
    )


def _feat(out: pd.DataFrame, row: int, name: str) -> float:
    return float(out.iloc[row][name])


def test_reading_1_known_values() -> None:
    out = features_from_dataframe(hand_df())
    g = lambda n: _feat(out, 1, n)  # noqa: E731
    assert g("voltage_a_pu") == pytest.approx(0.95)
    assert g("voltage_c_pu") == pytest.approx(1.05)
    assert g("voltage_mean_pu") == pytest.approx(1.0)
    assert g("pvur_pct") == pytest.approx(5.0)  # max |114-120| / 120
    assert g("voltage_ab_v") == pytest.approx(math.sqrt(114**2 + 120**2 + 114 * 120))
    assert g("current_unbalance_pct") == pytest.approx(20.0)  # max |12-10| / 10
    assert g("apparent_power_a_va") == pytest.approx(1000.0)
    assert g("power_factor_a") == pytest.approx(0.6)
    assert g("power_factor_b") == pytest.approx(-1200 / 1300)  # Q < 0: leading, negative
    assert g("power_factor_c") == pytest.approx(1.0)
    assert g("active_power_total_w") == pytest.approx(2600.0)
    assert g("reactive_power_total_var") == pytest.approx(300.0)
    assert g("apparent_power_total_va") == pytest.approx(1000 + 1300 + 800)
    assert g("power_factor_total") == pytest.approx(2600 / math.hypot(2600, 300))
    assert g("frequency_deviation_hz") == pytest.approx(-0.1)
    assert g("dt_s") == pytest.approx(0.5)
    assert g("rocof_hz_per_s") == pytest.approx(-0.2)  # -0.1 Hz over 0.5 s
    assert g("dp_dt_w_per_s") == pytest.approx((2600 - 3000) / 0.5)
    assert g("en50160_voltage_within_10pct") == 1.0
    assert g("en50160_frequency_within_1pct") == 1.0
    assert g("thd_available") == 0.0 and math.isnan(g("thd_voltage_max_pct"))
    assert g("nominal_voltage_v") == 120.0 and g("nominal_frequency_hz") == 60.0
    assert g("history_count") == 1.0


def test_reading_2_rolling_and_lags() -> None:
    out = features_from_dataframe(hand_df())
    g = lambda n: _feat(out, 2, n)  # noqa: E731
    assert g("rocof_hz_per_s") == pytest.approx(0.05 / 2.0)  # real Δt = 2 s
    assert [g(f"frequency_lag_{k}") for k in range(3)] == pytest.approx([59.95, 59.9, 60.0])
    assert all(math.isnan(g(f"frequency_lag_{k}")) for k in range(3, 10))
    assert [g(f"dt_lag_{k}") for k in range(2)] == pytest.approx([2.0, 0.5])
    assert math.isnan(g("dt_lag_2"))
    assert [g(f"active_power_total_lag_{k}") for k in range(3)] == pytest.approx([3000, 2600, 3000])
    # 2.5 s of history: the 3-s window has not run for τ yet, so it is missing, not a
    # statistic of "the last readings"
    assert math.isnan(g("win3s_frequency_hz_mean")) and math.isnan(g("win3s_frequency_hz_trend_per_s"))
    assert g("history_count") == 2.0
    assert g("hour_of_day_cos") == pytest.approx(1.0, abs=1e-6)
    assert g("day_of_week_sin") == pytest.approx(0.0) and g("day_of_week_cos") == 1.0  # Monday


def test_first_reading_has_no_history() -> None:
    out = features_from_dataframe(hand_df())
    assert math.isnan(_feat(out, 0, "dt_s")) and math.isnan(_feat(out, 0, "rocof_hz_per_s"))
    assert _feat(out, 0, "history_count") == 0.0
    assert _feat(out, 0, "win3s_effective_readings") == 1.0
    assert math.isnan(_feat(out, 0, "win3s_frequency_hz_std"))
    assert math.isnan(_feat(out, 0, "win3s_frequency_hz_trend_per_s"))


def test_vuf_lvur_features_check_vector() -> None:
    # phase magnitudes whose 120°-spaced line voltages are 200, 205, 220 V do not exist in
    # closed form; instead check VUF/LVUR against the physics functions on the derived lines
    from gridtwin.physics.symmetrical import (
        line_magnitudes_from_phase_magnitudes,
        lvur_pct,
        vuf_from_line_magnitudes_pct,
    )

    out = features_from_dataframe(hand_df())
    lines = line_magnitudes_from_phase_magnitudes(114.0, 120.0, 126.0)
    assert _feat(out, 1, "vuf_pct") == pytest.approx(float(vuf_from_line_magnitudes_pct(*lines)))
    assert _feat(out, 1, "lvur_pct") == pytest.approx(float(lvur_pct(*lines)))
    assert _feat(out, 0, "vuf_pct") == pytest.approx(0.0, abs=1e-6)


def test_sorting_and_per_meter_windows() -> None:
    df = pd.concat([hand_df(), hand_df().assign(meter_id="other")]).sample(frac=1, random_state=0)
    out = features_from_dataframe(df)
    assert list(out["meter_id"]) == ["m120"] * 3 + ["other"] * 3
    assert list(out["history_count"]) == [0, 1, 2, 0, 1, 2]
    assert out.index.tolist() == [0, 1, 2, 0, 1, 2]


def test_nominal_inferred_when_missing() -> None:
    df = hand_df()
    df["nominal_voltage"] = np.nan
    df = df.drop(columns="nominal_frequency")
    out = features_from_dataframe(df)
    assert list(out["nominal_voltage_v"]) == [120.0] * 3
    assert list(out["nominal_frequency_hz"]) == [60.0] * 3
    assert list(out["nominal_inferred"]) == [1.0] * 3


def _protos(df: pd.DataFrame) -> list[reading_pb2.Reading]:
    out = []
    for r in df.to_dict("records"):
        m = reading_pb2.Reading(
            meter_id=r["meter_id"],
            frequency=r["frequency"],
            nominal_voltage=r["nominal_voltage"],
            nominal_frequency=r["nominal_frequency"],
        )
        m.timestamp.seconds, m.timestamp.nanos = divmod(r["timestamp"].value, 10**9)
        for name in ("voltage", "current", "active_power", "reactive_power"):
            pv = getattr(m, name)
            pv.a, pv.b, pv.c = r[f"{name}_a"], r[f"{name}_b"], r[f"{name}_c"]
        out.append(m)
    return out


def test_proto_adapter_matches_dataframe_path() -> None:
    df = hand_df()
    cur = arrays_from_protos(_protos(df))
    hist = build_history(history_records(cur), np.zeros(len(df), dtype=np.intp))
    y, vph = window_inputs(cur)
    state = chain_states(
        empty_states(1), np.zeros(len(df), dtype=np.intp), cur.timestamp_s, y, vph, cur.nominal_voltage_v
    )
    a = compute_features(cur, hist, state)
    b = features_from_dataframe(df)[list(FEATURE_NAMES)].to_numpy()
    assert a.shape == (3, len(FEATURE_NAMES))
    assert np.allclose(a, b, rtol=0, atol=0, equal_nan=True)


def test_thd_from_waveform_and_reported_harmonics_120v_60hz() -> None:
    msgs = _protos(hand_df().iloc[:2])
    fs, n = 12_000.0, 2400  # 12 cycles at 60 Hz
    t = np.arange(n) / fs
    wave = math.sqrt(2) * (120 * np.sin(2 * np.pi * 60 * t) + 6 * np.sin(2 * np.pi * 300 * t))
    msgs[0].waveform.sample_rate_hz = fs
    msgs[0].waveform.voltage_a.extend(wave.tolist())
    msgs[1].harmonics.voltage_b.extend([120.0, 0.0, 3.6, 0.0, 4.8])
    cur = arrays_from_protos(msgs)
    f = compute_features(cur, build_history(history_records(cur), np.zeros(2, dtype=np.intp)))
    ix = FEATURE_INDEX
    assert f[0, ix["thd_voltage_a_pct"]] == pytest.approx(5.0, rel=1e-6)
    assert f[0, ix["thd_available"]] == 1.0 and f[0, ix["en50160_thd_within_8pct"]] == 1.0
    assert f[1, ix["thd_voltage_b_pct"]] == pytest.approx(5.0)  # sqrt(3.6² + 4.8²) / 120
    assert math.isnan(f[1, ix["thd_voltage_a_pct"]])
    assert f[1, ix["thd_voltage_max_pct"]] == pytest.approx(5.0)


def test_arrays_from_protos_infers_nominal() -> None:
    m = reading_pb2.Reading(meter_id="x", frequency=59.97)
    m.voltage.a, m.voltage.b, m.voltage.c = 121.0, 119.0, 122.0
    cur = arrays_from_protos([m])
    assert cur.nominal_voltage_v[0] == 120.0 and cur.nominal_frequency_hz[0] == 60.0
    assert cur.nominal_inferred[0] == 1.0
