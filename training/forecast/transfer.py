"""The registered (15-min, simulator-trained) forecaster on real demand: the Taylor test weeks.

England & Wales half-hourly demand (Taylor 2003, the last 4 of 12 weeks) is put on the model's
15-min grid (each half-hour's value on both of its quarters) and forecast by the *registered*
model from every half-hour origin (the end of a half-hour), horizons 30 min – 24 h, scored at
the half-hour targets; no refit, nothing fitted on this series. Baseline: the weekly naive on the
same points. This is a transfer figure (simulated feeders → a national system), not the
Taylor protocol, where the forecaster is fitted on the first 8 weeks
(``gridtwin forecast benchmark``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gridtwin.forecast.ensemble import ForecastModel
from gridtwin.forecast.track import robust_scale
from training.forecast.data import TAYLOR_FIT_STEPS, LoadSeries, load_taylor, make_track
from training.forecast.evaluation import mape_per_horizon


def taylor_transfer(model: ForecastModel) -> dict[str, Any]:
    """Mean and first-half-hour MAPE (%) of the registered ensemble and the weekly naive."""
    cfg = model.cfg
    k = int(round(30 / cfg.step_minutes))  # model steps per half-hour
    if k * cfg.step_minutes != 30:
        raise ValueError(f"model step {cfg.step_minutes} min does not divide 30 min")
    s = load_taylor()
    fine = LoadSeries(
        values=np.repeat(s.values, k), start=s.start, step=pd.Timedelta(minutes=cfg.step_minutes), tz=s.tz
    )
    test_start = TAYLOR_FIT_STEPS * k
    track = make_track(fine, cfg.max_h, scale=robust_scale(fine.values[:test_start]))
    end = len(fine)
    track.z = np.concatenate([track.z, np.full(cfg.max_h, np.nan)])
    origins = np.arange(test_start - 1, end - 1, k)  # each the last quarter of a half-hour
    cols = [j for j, h in enumerate(cfg.horizons) if h % k == 0]
    fc = model.predict(track, origins)
    tau = origins[:, None] + np.asarray(cfg.horizons)[None, cols]
    actual = np.where(tau < end, track.z[np.minimum(tau, len(track.z) - 1)], np.nan)
    out: dict[str, Any] = {"origins": int(len(origins)), "horizons_half_hours": len(cols)}
    for name, pred in (("ensemble", fc.point), ("naive", fc.members["naive"])):
        per = mape_per_horizon(actual, pred[:, cols])
        out[name] = {"mean_mape_pct": float(np.nanmean(per)), "h1_mape_pct": float(per[0])}
    return out
