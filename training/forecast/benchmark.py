"""The Taylor (2003) protocol on England & Wales demand.

Fit on the first 8 weeks (members on weeks 1–6, ensemble weights and conformal bounds on
forecasts of weeks 7–8, then members refitted on all 8 weeks), test on the last 4 weeks from
EVERY half-hour origin, horizons 1–48 (half-hours), no refit on the test weeks. Tuning used
the validation weeks 7–8 only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridtwin.forecast.config import Config
from gridtwin.forecast.ensemble import ForecastModel, weighted_columns
from training.forecast.data import TAYLOR_FIT_STEPS, load_taylor, taylor_split
from training.forecast.ensemble import default_config, fit_forecaster
from training.forecast.evaluation import rolling_origin

VAL_WEEKS = 2


def taylor_config(**overrides: Any) -> Config:
    kw: dict[str, Any] = dict(alpha=1e-3, hidden=24, epochs=40, lr=5e-3, level=0.9)
    kw.update(overrides)
    return default_config(pd.Timedelta(minutes=30), **kw)


def fit_taylor(cfg: Config | None = None, val_weeks: int = VAL_WEEKS) -> ForecastModel:
    fit, _test = taylor_split()
    return fit_forecaster(cfg or taylor_config(), [fit], val_steps=val_weeks * 7 * 48)


def run(cfg: Config | None = None, out: str | Path | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    series = load_taylor()
    model = fit_taylor(cfg)
    fit_s = time.perf_counter() - started
    res = rolling_origin(model, series, TAYLOR_FIT_STEPS)
    total_s = time.perf_counter() - started
    names = [*model.cfg.members, "ensemble", "naive"]
    result: dict[str, Any] = {
        "protocol": "Taylor (2003): fit first 8 weeks (members on weeks 1-6, ensemble weights and conformal "
        "bounds on weeks 7-8, members refitted on weeks 1-8), test last 4 weeks from every half-hour origin, "
        "horizons 1-48 half-hours, no refit on test",
        "data": "England & Wales half-hourly demand 5 Jun - 27 Aug 2000 (pmdarima load_taylor, 4,032 points)",
        "n_origins": res.n_origins,
        "mean_mape_pct": {m: round(float(np.nanmean(res.mape[m])), 4) for m in names},
        "h1_mape_pct": {m: round(float(res.mape[m][0]), 4) for m in names},
        "mape_per_horizon_pct": {m: [round(float(v), 4) for v in res.mape[m]] for m in names},
        "interval": {
            "level": model.cfg.level,
            "method": "split conformal: per-horizon residual quantiles of the ensemble on weeks 7-8",
            "coverage_on_test": round(res.coverage, 4),
            "coverage_per_horizon": [round(float(v), 4) for v in res.coverage_per_horizon],
        },
        "weights": {
            m: [round(float(w), 4) for w in model.weights[:, i]]
            for i, m in enumerate(weighted_columns(model.cfg.members, model.weights))
        },
        "validation_mean_mape_pct": {
            m: round(float(np.nanmean(v)), 4) for m, v in model.validation["mape_per_horizon"].items()
        },
        "goals": {"mean_mape_pct": "<= 1.5", "h1_mape_pct": "<= 0.5"},
        "config": {k: v for k, v in model.cfg.__dict__.items() if k != "horizons"},
        "timings_s": {
            **{k: round(v, 2) for k, v in model.timings.items()},
            "fit": round(fit_s, 2),
            "total": round(total_s, 2),
        },
    }
    result["goals_met"] = {
        "mean_mape_pct": result["mean_mape_pct"]["ensemble"] <= 1.5,
        "h1_mape_pct": result["h1_mape_pct"]["ensemble"] <= 0.5,
    }
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1, default=str))
    result["_model"] = model
    result["_rolling"] = res
    return result
