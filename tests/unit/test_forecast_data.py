"""CSV loading (resolution, gaps, DST), Taylor data, and no look-ahead in the features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.forecast import features as F
from training.forecast.data import infer_resolution, load_csv, load_taylor, taylor_split


def _write(tmp_path, times, values, name="x.csv", **cols):
    frame = pd.DataFrame({"timestamp": times, "load_kw": values, **cols})
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("minutes", [1, 30, 60])
def test_csv_resolution_and_gaps(tmp_path, minutes):
    n = 3 * 24 * 60 // minutes
    times = pd.date_range("2024-01-01", periods=n, freq=f"{minutes}min", tz="UTC")
    values = 100 + np.arange(n, dtype=float)
    keep = np.ones(n, bool)
    keep[10:12] = False  # a short gap: interpolated
    path = _write(tmp_path, times[keep].strftime("%Y-%m-%dT%H:%M:%SZ"), values[keep])
    s = load_csv(path)
    assert s.step == pd.Timedelta(minutes=minutes)
    assert len(s) == n and s.filled.sum() == 2
    assert np.allclose(s.values, values)  # linear data: interpolation is exact
    assert s.index[0] == times[0]


def test_csv_long_gap_filled_from_previous_week_and_flagged(tmp_path):
    times = pd.date_range("2024-01-01", periods=9 * 48, freq="30min")
    values = np.tile(np.sin(np.arange(48) / 48 * 2 * np.pi) + 5, 9)
    keep = np.ones(len(times), bool)
    keep[8 * 48 : 8 * 48 + 10] = False  # 5 h gap on day 9
    s = load_csv(_write(tmp_path, times[keep].astype(str), values[keep]))
    assert s.filled.sum() == 10
    assert np.allclose(s.values, values)  # the same slot one week earlier


def test_csv_dst_local_times_to_utc(tmp_path):
    # Europe/London: 2023-03-26 01:00 -> 02:00 (spring), 2023-10-29 02:00 -> 01:00 (autumn)
    utc = pd.date_range("2023-10-28 00:00", "2023-10-30 00:00", freq="30min", tz="UTC", inclusive="left")
    local = utc.tz_convert("Europe/London").tz_localize(None)  # naive local: 01:00-01:30 repeat
    assert local.duplicated().sum() == 2
    values = np.arange(len(utc), dtype=float)
    s = load_csv(_write(tmp_path, local.astype(str), values), tz="Europe/London")
    assert s.step == pd.Timedelta(minutes=30)
    assert len(s) == len(utc) and not s.filled.any()
    assert s.index.equals(utc)
    assert np.allclose(s.values, values)
    slot, dow = s.calendar()
    # the calendar is local: 00:00 local on the 29th is slot 0 (23:00 UTC on the 28th in BST)
    assert slot[list(s.index).index(pd.Timestamp("2023-10-28 23:00", tz="UTC"))] == 0

    spring = pd.date_range("2023-03-25 00:00", "2023-03-27 00:00", freq="1h", tz="UTC", inclusive="left")
    local = spring.tz_convert("Europe/London").tz_localize(None)  # no 01:00 local on the 26th
    s = load_csv(
        _write(tmp_path, local.astype(str), np.ones(len(spring)), name="spring.csv"), tz="Europe/London"
    )
    assert len(s) == len(spring) and s.index.equals(spring) and not s.filled.any()


def test_csv_with_offsets_and_named_columns(tmp_path):
    utc = pd.date_range("2023-10-28 22:00", periods=12, freq="1h", tz="UTC")
    stamps = [t.tz_convert("Europe/Paris").isoformat() for t in utc]  # mixed +02:00 / +01:00
    frame = pd.DataFrame({"when": stamps, "other": 0, "mw": np.arange(12.0)})
    path = tmp_path / "off.csv"
    frame.to_csv(path, index=False)
    s = load_csv(path, timestamp_col="when", load_col="mw")
    assert s.index.equals(utc) and s.step == pd.Timedelta(hours=1)


def test_resolution_bounds():
    with pytest.raises(ValueError):
        infer_resolution(pd.date_range("2024-01-01", periods=10, freq="30s"))
    with pytest.raises(ValueError):
        infer_resolution(pd.date_range("2024-01-01", periods=10, freq="2h"))


def test_taylor_protocol_split():
    s = load_taylor()
    assert len(s) == 4032 and s.step == pd.Timedelta(minutes=30)
    assert s.series.index[0] == pd.Timestamp("2000-06-05 00:00", tz="Europe/London")
    fit, test = taylor_split(s)
    assert len(fit) == 2688 and len(test) == 1344
    # the weekly seasonal naive of the protocol scores about 2.16 % MAPE on the test weeks
    y = s.values
    per_h = []
    for h in range(1, 49):
        tau = np.arange(2687, 4031) + h
        tau = tau[tau < 4032]
        per_h.append(np.mean(np.abs(y[tau] - y[tau - 336]) / y[tau]))
    assert np.mean(per_h) * 100 == pytest.approx(2.16, abs=0.02)


def test_features_do_not_look_ahead():
    rng = np.random.default_rng(0)
    day, season = 48, 336
    z = rng.normal(1, 0.1, 1200)
    slot, dow = np.arange(1300) % day, (np.arange(1300) // day) % 7
    origin = np.array([900])
    for h in (1, 17, 48):
        x1, b1 = F.lag_features(z, slot, dow, origin, h, day, season)
        z2 = z.copy()
        z2[901:] += 100.0  # change the future
        x2, b2 = F.lag_features(z2, slot, dow, origin, h, day, season)
        assert np.array_equal(x1, x2) and np.array_equal(b1, b2)
    s1 = F.sequence_inputs(z, slot, origin, 48, day, season)
    z2 = z.copy()
    z2[901:] = 0
    assert np.array_equal(s1, F.sequence_inputs(z2, slot, origin, 48, day, season))
    assert np.array_equal(
        F.head_inputs(z, origin, range(1, 49), day, season),
        F.head_inputs(z2, origin, range(1, 49), day, season),
    )
