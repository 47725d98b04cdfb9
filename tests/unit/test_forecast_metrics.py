"""Metric functions, conformal intervals and ensemble weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.forecast.config import Config
from training.forecast.data import LoadSeries
from training.forecast.ensemble import conformal_bounds, fit_forecaster, fit_weights
from training.forecast.evaluation import coverage, mape, mape_per_horizon, rolling_origin, wape


def test_mape_and_wape_hand_checked():
    assert mape([100, 200], [110, 180]) == pytest.approx(10.0)
    assert mape([0, 100], [5, 90]) == pytest.approx(10.0)  # zero actuals are skipped
    assert np.isnan(mape([0.0], [1.0]))
    assert wape([100, 300], [110, 270]) == pytest.approx(10.0)
    per = mape_per_horizon(np.array([[100, 100], [100, np.nan]]), np.array([[101, 90], [99, 5]]))
    assert per == pytest.approx([1.0, 10.0])


def test_coverage_counts_inclusive_bounds():
    assert coverage([1, 2, 3, 4], [0, 2, 4, 0], [1, 3, 5, 3]) == pytest.approx(0.5)


def test_conformal_interval_covers_on_exchangeable_data():
    rng = np.random.default_rng(1)
    calib, test = rng.standard_t(4, 2000), rng.standard_t(4, 20000)
    lo, hi = conformal_bounds(calib, 0.9)
    assert lo == -hi
    cov = np.mean((test >= lo) & (test <= hi))
    assert 0.87 <= cov <= 0.93


def test_fit_weights_simplex():
    rng = np.random.default_rng(2)
    y = rng.normal(size=500)
    good, bad = y + rng.normal(0, 0.1, 500), rng.normal(size=500)
    w = fit_weights(np.column_stack([good, bad]), y)
    assert w.sum() == pytest.approx(1.0, abs=1e-3) and (w >= 0).all() and w[0] > 0.9


def test_lag_model_interval_coverage_and_beats_naive_on_synthetic_series():
    """A double-seasonal synthetic load with AR noise: the lag model beats the seasonal
    naive and its 90 % conformal interval covers ~90 % of held-out points."""
    rng = np.random.default_rng(3)
    day, n = 24, 24 * 7 * 10
    t = np.arange(n)
    noise = np.zeros(n)
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.02)
    y = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / day) + 0.1 * ((t // day) % 7 >= 5) + noise)
    s = LoadSeries(values=y, start=pd.Timestamp("2024-01-01", tz="UTC"), step=pd.Timedelta(hours=1))
    cfg = Config(step_minutes=60, horizons=list(range(1, 25)), day=day, season=7 * day, members=("lag",))
    fit_end = 24 * 7 * 7
    model = fit_forecaster(cfg, [s.slice(0, fit_end)], val_steps=24 * 7)
    res = rolling_origin(model, s, fit_end)
    assert np.nanmean(res.mape["ensemble"]) < np.nanmean(res.mape["naive"])
    assert 0.8 <= res.coverage <= 0.98


def _synthetic_hourly(weeks: int, seed: int) -> LoadSeries:
    rng = np.random.default_rng(seed)
    t = np.arange(24 * 7 * weeks)
    y = 100 * (1 + 0.3 * np.sin(2 * np.pi * t / 24) + 0.1 * ((t // 24) % 7 >= 5)) + rng.normal(0, 2, len(t))
    return LoadSeries(values=y, start=pd.Timestamp("2024-01-01", tz="UTC"), step=pd.Timedelta(hours=1))


def test_lstm_member_onnx_matches_keras_and_survives_save_load(tmp_path):
    """The LSTM member (Keras-trained) runs through ONNX Runtime: on held-out origins its graph
    agrees with Keras' own predict within 1e-4 (standardised output units), and a saved and
    reloaded forecaster gives the same forecasts."""
    from gridtwin.forecast.persistence import load, save
    from training.forecast.data import make_track
    from training.keras_export import keras_predict

    s = _synthetic_hourly(weeks=5, seed=4)
    cfg = Config(
        step_minutes=60,
        horizons=list(range(1, 7)),
        day=24,
        season=7 * 24,
        members=("lag", "lstm"),
        epochs=2,
        hidden=8,
        max_lstm_samples=400,
    )
    fit_end = 24 * 7 * 4
    model = fit_forecaster(cfg, [s.slice(0, fit_end)], val_steps=24 * 5)
    track = make_track(s, cfg.max_h)
    held_out = np.arange(fit_end, len(s) - cfg.max_h)
    seq, head, _ = model.lstm.inputs(track, held_out)
    feeds = model.lstm.network_inputs(seq, head)
    gap = np.abs(model.lstm.net.run_one(feeds) - keras_predict(model.lstm.keras_model, feeds))
    assert gap.max() < 1e-4
    reloaded = load(folder=save(model, tmp_path)["meta"].parent)
    np.testing.assert_allclose(
        reloaded.predict(track, held_out).point, model.predict(track, held_out).point, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("seed", range(6))
def test_ensemble_never_worse_than_best_member_on_validation(seed):
    """Members whose errors differ by horizon, a biased member (NNLS on squared error can pick it
    up and lose in MAPE) and a far worse one: after smoothing across horizons, the weights never
    leave the ensemble worse than the best member at any horizon, and the far worse member
    gets no weight."""
    from training.forecast.ensemble import FAR_WORSE, eligible_members, ensemble_weights

    rng = np.random.default_rng(seed)
    n, n_h = 400, 24
    y = 10 + 3 * rng.random((n, n_h))
    noise = np.linspace(0.2, 1.5, n_h)
    preds = {
        "a": y + rng.normal(0, 1, (n, n_h)) * noise,  # good early, worse late
        "b": y + rng.normal(0, 1, (n, n_h)) * noise[::-1],  # the reverse
        "c": y * 1.06 + rng.normal(0, 0.3, (n, n_h)),  # biased, low variance
        "far": y + rng.normal(0, 6, (n, n_h)),
        "naive": y + rng.normal(0, 4, (n, n_h)),
    }
    members = ("a", "b", "c", "far")
    columns = (*members, "naive")  # the weekly naive is the last weighted column
    mape = {m: mape_per_horizon(y, preds[m]) for m in preds}
    use = eligible_members(mape, members)
    stack = np.stack([preds[m] for m in columns], axis=-1)
    w, _ = ensemble_weights(stack, y, use)
    assert np.all(w >= 0) and np.allclose(w.sum(axis=1), 1.0)
    assert np.nanmean(mape["far"]) > FAR_WORSE * min(np.nanmean(mape[m]) for m in "abc")
    assert np.all(w[:, members.index("far")] == 0)
    ens = mape_per_horizon(y, np.einsum("nhm,hm->nh", stack, w))
    best = np.min([mape[m] for m in columns], axis=0)
    assert np.all(ens <= best + 1e-12)


def test_ensemble_takes_the_naive_where_it_beats_every_member_on_validation():
    """A noisy series where the weekly naive is the best validation forecast: the ensemble
    leans on it and is no worse than it at any horizon (it used to be stuck with the best
    member, worse than its own baseline)."""
    from training.forecast.ensemble import eligible_members, ensemble_weights

    rng = np.random.default_rng(0)
    n, n_h = 400, 12
    y = 10 + 3 * rng.random((n, n_h))
    preds = {"a": y + rng.normal(0, 2, (n, n_h)), "naive": y + rng.normal(0, 1, (n, n_h))}
    mape = {m: mape_per_horizon(y, preds[m]) for m in preds}
    use = eligible_members(mape, ("a",))
    stack = np.stack([preds["a"], preds["naive"]], axis=-1)
    w, _ = ensemble_weights(stack, y, use)
    assert np.all(w[:, 1] > 0.5)
    ens = mape_per_horizon(y, np.einsum("nhm,hm->nh", stack, w))
    assert np.all(ens <= mape["naive"] + 1e-12)
