"""The long-series protocol (``gridtwin forecast long``): several years of hourly demand.

Per series (``training.forecast.longdata``; both synthetic, see there): the model reads a
corrupted copy (spikes, dropouts to 0, missing hours) and is scored on the clean series. Test =
the last year, a forecast from every hourly origin, horizons 1–24 h, no refit. Fit = everything
before: members on all but the last 12 weeks, ensemble weights and conformal bounds on
forecasts of those 12 weeks, members refitted on all of it. Baselines on the same (cleaned)
inputs: weekly naive, daily naive, persistence, and the best single member.
Goals (issue 9): 24-h-ahead MAPE ≤ half the weekly naive's; the ensemble no worse than its best
member on the test; the fit within 3 minutes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from gridtwin.forecast.config import Config
from gridtwin.forecast.ensemble import weighted_columns
from training.forecast.data import LoadSeries
from training.forecast.ensemble import default_config, fit_forecaster
from training.forecast.evaluation import rolling_origin
from training.forecast.longdata import HOUR, bdew_town, corrupt, heldout_world

TEST_STEPS = 365 * 24
VAL_STEPS = 12 * 7 * 24
BASELINES = ("naive", "daily_naive", "persistence")


def long_config(holiday_country: str = "", holiday_region: str = "", **kw: Any) -> Config:
    opts: dict[str, Any] = dict(
        alpha=1e-3,
        hidden=24,
        epochs=10,
        lr=5e-3,
        max_lstm_samples=8000,
        max_lag_samples=30000,
        yearly_order=3,
        clean=True,
        log_load=True,
        members=("lag", "lstm"),
        holiday_country=holiday_country,
        holiday_region=holiday_region,
    )
    opts.update(kw)
    return default_config(HOUR, **opts)


def run_series(clean: LoadSeries, cfg: Config, seed: int = 0) -> dict[str, Any]:
    """Fit on the corrupted series before the last year, score every origin of the last year."""
    seen = corrupt(clean, seed=seed)
    n = len(seen)
    started = time.perf_counter()
    model = fit_forecaster(cfg, [seen.slice(0, n - TEST_STEPS)], val_steps=VAL_STEPS)
    fit_s = time.perf_counter() - started
    res = rolling_origin(model, seen, n - TEST_STEPS, truth=clean.values)
    members = list(cfg.members)
    names = [*members, "ensemble", *BASELINES]
    mean = {m: float(np.nanmean(res.mape[m])) for m in names}
    h24 = {m: float(res.mape[m][-1]) for m in names}
    best = min(members, key=lambda m: mean[m])
    val = model.validation["mape_per_horizon"]
    return {
        "series": clean.name,
        "points": n,
        "test_origins": res.n_origins,
        "mean_mape_pct": mean,
        "h1_mape_pct": {m: float(res.mape[m][0]) for m in names},
        "h24_mape_pct": h24,
        "best_member": best,
        "interval_coverage_90": res.coverage,
        "weights_mean": {
            m: float(model.weights[:, i].mean())
            for i, m in enumerate(weighted_columns(cfg.members, model.weights))
        },
        "validation_mean_mape_pct": {m: float(np.nanmean(v)) for m, v in val.items()},
        "validation_horizons_best_member_alone": model.validation["horizons_best_member_alone"],
        "goals": {
            "h24_at_most_half_weekly_naive": h24["ensemble"] <= 0.5 * h24["naive"],
            "ensemble_not_worse_than_best_member_on_test_mean": mean["ensemble"] <= mean[best],
            "ensemble_not_worse_than_best_member_on_test_h24": h24["ensemble"]
            <= min(h24[m] for m in members),
            "fit_within_180_s": fit_s <= 180,
        },
        "fit_seconds": round(fit_s, 1),
        "timings_s": {k: round(v, 2) for k, v in model.timings.items()},
        "config": {k: v for k, v in cfg.__dict__.items() if k != "horizons"},
    }


def run(country: str = "DE", region: str = "", years: int = 6, ablation: bool = True) -> dict[str, Any]:
    """Both long series; on the BDEW town also the lag model without holiday and yearly features."""
    town = bdew_town(years=years, country=country, region=region)
    world = heldout_world(years=years)
    out: dict[str, Any] = {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "data": {
            town.name: f"synthetic: demandlib BDEW H0/G0/L0 with the {country}{'-' + region if region else ''} "
            "holiday calendar, heating term, weather anomaly, noise",
            world.name: "synthetic: the held-out world's own load source (training.heldout.world), 20 meters "
            "summed; not the training generator; no weekly, yearly or holiday structure",
        },
        "results": [
            run_series(town, long_config(country, region)),
            run_series(world, long_config()),
        ],
    }
    if ablation:
        bare = long_config(members=("lag",), yearly_order=0)
        with_cal = long_config(country, region, members=("lag",))
        out["ablation_bdew_town_lag_only"] = {
            "without_holidays_and_yearly": _brief(run_series(town, bare)),
            "with_holidays_and_yearly": _brief(run_series(town, with_cal)),
        }
    return out


def _brief(r: dict[str, Any]) -> dict[str, float]:
    return {"mean_mape_pct": r["mean_mape_pct"]["lag"], "h24_mape_pct": r["h24_mape_pct"]["lag"]}
