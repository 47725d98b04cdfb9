"""Holiday and yearly features of the lag model, and causal cleaning of spikes, dropouts and gaps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtwin.forecast import features as F
from gridtwin.forecast.ensemble import model_track
from gridtwin.forecast.members import LagModel
from training.forecast.data import LoadSeries, make_track
from training.forecast.ensemble import default_config
from training.forecast.evaluation import mape
from training.forecast.members import fit_lag

HOUR = pd.Timedelta(hours=1)


def _holiday_series(weeks: int, seed: int = 0) -> LoadSeries:
    """Hourly load with a weekday / Sunday shape; German public holidays follow the Sunday shape."""
    from training.forecast.data import holiday_flags

    times = pd.date_range("2019-01-07", periods=weeks * 168, freq="1h", tz="Europe/Berlin")
    hour, dow = times.hour.to_numpy(), times.dayofweek.to_numpy()
    hol = holiday_flags(times, "DE") == 1
    weekday = 100 + 40 * np.sin(np.pi * np.clip(hour - 6, 0, 12) / 12)
    sunday = 70 + 10 * np.sin(np.pi * np.clip(hour - 9, 0, 10) / 10)
    v = np.where((dow == 6) | hol, sunday, weekday) * (
        1 + np.random.default_rng(seed).normal(0, 0.01, len(times))
    )
    return LoadSeries(values=v, start=times[0].tz_convert("UTC"), step=HOUR, name="x", tz="Europe/Berlin")


def test_holiday_flags_and_columns_present():
    cfg = default_config(HOUR, holiday_country="DE", holiday_region="BY", yearly_order=2)
    s = _holiday_series(60)
    track = make_track(s, cfg.max_h, cfg=cfg)
    local = s.times(len(track.holiday)).tz_convert("Europe/Berlin")
    on = {str(d.date()) for d in local[track.holiday == 1]}
    assert {
        "2019-12-25",
        "2019-12-26",
        "2019-10-03",
        "2019-06-20",
    } <= on  # 20 Jun (Corpus Christi): Bavaria, not national
    assert "2019-12-27" not in on
    assert abs(track.doy[local.get_loc(pd.Timestamp("2019-07-01 12:00", tz="Europe/Berlin"))] - 181.5) < 1e-9
    lag = LagModel(cfg)
    org = np.arange(lag.min_origin(), lag.min_origin() + 50)
    x, _ = lag.features(track, org, 5)
    assert x.shape[1] == F.n_lag_features(cfg.day, cfg.season) + 5 + 4 * cfg.yearly_order


def test_holiday_features_fix_holiday_forecasts():
    """Fit on 40 weeks, score holiday targets of the following weeks: with the holiday
    calendar the lag model forecasts holidays far better than without it."""
    s = _holiday_series(52)
    fit_end = 40 * 168
    with_hol = default_config(HOUR, holiday_country="DE", max_lag_samples=6000, log_load=True)
    without = default_config(HOUR, max_lag_samples=6000, log_load=True)
    errs = {}
    for name, cfg in (("with", with_hol), ("without", without)):
        track = make_track(s, cfg.max_h, cfg=with_hol)  # same track; only the model's config differs
        model = fit_lag(cfg, [model_track(track, cfg)], [fit_end])
        org = np.arange(fit_end, len(s) - cfg.max_h)
        pred = np.exp(model.predict(model_track(track, cfg), org))
        tau = org[:, None] + np.asarray(cfg.horizons)[None, :]
        on_holiday = track.holiday[tau] == 1
        errs[name] = mape(track.z[tau][on_holiday], pred[on_holiday])
    assert np.isfinite(errs["with"]) and errs["with"] < 0.5 * errs["without"], errs


def test_clean_replaces_spikes_dropouts_and_gaps_causally():
    rng = np.random.default_rng(0)
    n = 24 * 7 * 24
    t = np.arange(n)
    v = 100 + 30 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, n)
    dirty = v.copy()
    dirty[2000] *= 4  # spike
    dirty[3000:3024] = 0.0  # a day of zeros
    dirty[3500:3510] = np.nan
    dirty[2500] = v[2500] * 0.7  # a real drop (holiday-like): kept
    out, flagged = F.clean(dirty, 24, 168, sigma_steps=1800)
    assert flagged[2000] and flagged[3000:3024].all() and flagged[3500:3510].all() and not flagged[2500]
    assert np.all(
        np.abs(
            out[[2000, *range(3000, 3024), *range(3500, 3510)]]
            - v[[2000, *range(3000, 3024), *range(3500, 3510)]]
        )
        < 10
    )
    # causal: values up to k are cleaned the same whatever comes after k
    k = 3005
    head, _ = F.clean(dirty[: k + 1], 24, 168, sigma_steps=1800)
    np.testing.assert_array_equal(head, out[: k + 1])
