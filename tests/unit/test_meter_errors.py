"""The per-meter choice among the model and the meter's own naive forecasts (meter_errors)."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.forecast.meter_errors import (
    LATEST,
    MEDIAN,
    MIN_RESIDUALS,
    candidates,
    choose,
    conformal_half_width,
    naive_points,
)

DAY = 96
STEPS = [1, 4, 96]  # 15 min, 1 h, 24 h at 15-min intervals


def _daily(n: int, rng: np.random.Generator, noise_w: float) -> np.ndarray:
    """A clean daily profile 3–5.7 kW (W) with Gaussian noise."""
    slot = np.arange(n) % DAY
    return 4350 + 1350 * np.sin(2 * np.pi * slot / DAY) + rng.normal(0, noise_w, n)


def _run(y: np.ndarray, model: np.ndarray | None = None, latest: np.ndarray | None = None, days: int = 3):
    """choose() as the served model calls it: the last `days` of origins replayed, the last one now."""
    origins = np.arange(len(y) - 1 - days * DAY, len(y))
    preds = np.full((len(origins), len(STEPS)), np.nan) if model is None else model
    lat = np.full(len(origins), np.nan) if latest is None else latest
    cands = candidates(y, origins, preds, lat, STEPS, DAY)
    now = {k: v[-1] for k, v in cands.items()}
    back = {k: v[:-1] for k, v in cands.items()}
    return choose(y, origins[:-1], back, now, STEPS, 0.9, float(np.mean(np.abs(y))))


def test_clean_daily_profile_is_answered_by_a_slot_forecast():
    """Noise around a fixed daily shape: the 7-day slot statistics average the noise down, so a
    single lagged interval (persistence, daily, weekly) must lose at 1 h and 24 h."""
    y = _daily(12 * DAY, np.random.default_rng(0), 200)
    chosen = _run(y)
    for c in chosen[1:]:
        assert c is not None and c.source in ("slot median", "slot mean", MEDIAN), c
        assert c.n >= MIN_RESIDUALS and 0 < c.mape_pct < 5
        assert 0 < c.half_width < 1000  # ±1 kW at most for 0.2 kW noise


def test_spikes_make_the_slot_median_beat_the_slot_mean():
    """An appliance left on (2–3 kW for one interval on one day in seven at a slot): the mean of
    the last 7 days carries a seventh of every spike into the next days, the median none."""
    rng = np.random.default_rng(1)
    y = 500 + rng.normal(0, 10, 14 * DAY)
    spikes = rng.choice(len(y), size=len(y) // 7, replace=False)
    y[spikes] += rng.uniform(2000, 3000, len(spikes))
    origins = np.arange(len(y) - 1 - 3 * DAY, len(y) - 1)
    naive = naive_points(y, origins, STEPS, DAY)
    tgt = origins[:, None] + np.asarray(STEPS)[None, :]
    ok = tgt < len(y)
    truth = np.where(ok, y[np.clip(tgt, 0, len(y) - 1)], np.nan)

    def mape(f: np.ndarray) -> float:
        return float(np.nanmean(np.abs(truth - f) / truth))

    assert mape(naive["slot median"]) < 0.8 * mape(naive["slot mean"])
    chosen = _run(y)
    assert all(c.source != "slot mean" for c in chosen)


def test_naives_are_scored_where_the_model_did_not_answer():
    """The model answered only the last few origins (fewer than MIN_RESIDUALS): the naives are
    still chosen on the whole window, and the model cannot win on its few lucky origins."""
    y = _daily(12 * DAY, np.random.default_rng(2), 200)
    n = 3 * DAY + 1
    model = np.full((n, len(STEPS)), np.nan)
    origins = np.arange(len(y) - n, len(y))
    tgt = np.minimum(origins[:, None] + np.asarray(STEPS)[None, :], len(y) - 1)
    model[-10:] = y[tgt[-10:]]  # perfect, but on 10 origins (the last ones, targets mostly unseen)
    chosen = _run(y, model)
    assert all(c is not None and c.source != "model" for c in chosen)
    assert chosen[1].n > 2 * DAY  # the naives' scores rest on the whole window


def test_the_model_wins_where_it_earned_it():
    """A model that knows the profile (the noise-free shape) beats every naive of a noisy meter."""
    rng = np.random.default_rng(3)
    clean = _daily(12 * DAY, rng, 0)
    y = clean + rng.normal(0, 600, len(clean))
    n = 3 * DAY + 1
    origins = np.arange(len(y) - n, len(y))
    tgt = origins[:, None] + np.asarray(STEPS)[None, :]
    model = 4350 + 1350 * np.sin(2 * np.pi * (tgt % DAY) / DAY)
    chosen = _run(y, model)
    # the model alone or averaged with the slot mean (within noise of each other), never a naive
    assert all(c.source in ("model", "model + slot mean") for c in chosen), chosen


def test_latest_partial_interval_wins_on_a_wandering_level_beyond_one_step():
    """A level that wanders (random walk): the interval in progress is the freshest evidence of
    it, so its persistence beats the origin's at 1 h; at one step ahead it is never offered (that
    target IS the interval in progress: a nowcast, not a forecast)."""
    rng = np.random.default_rng(4)
    y = 5000 + np.cumsum(rng.normal(0, 150, 12 * DAY))
    n = 3 * DAY + 1
    origins = np.arange(len(y) - n, len(y))
    latest = np.where(origins + 1 < len(y), y[np.minimum(origins + 1, len(y) - 1)], 5000.0)
    chosen = _run(y, latest=latest)
    assert chosen[0].source != LATEST
    assert chosen[1].source in (LATEST, MEDIAN), chosen[1]
    # without the recorded partial intervals it cannot compete
    assert _run(y)[1].source != LATEST


def test_too_few_scored_origins_leave_the_choice_to_the_caller():
    y = _daily(2 * DAY, np.random.default_rng(5), 200)
    chosen = _run(y, days=0)
    assert chosen == [None, None, None]


@pytest.mark.parametrize(("n", "expected"), [(9, 9.0), (19, 18.0), (100, 91.0)])
def test_conformal_half_width_is_the_split_conformal_quantile(n, expected):
    err = np.arange(1, n + 1, dtype=float) * np.where(np.arange(n) % 2, 1, -1)
    assert conformal_half_width(err, 0.9) == expected
