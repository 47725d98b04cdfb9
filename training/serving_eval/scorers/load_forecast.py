"""load_forecast: the served per-meter forecast against the meter's own later 15-min loads.

The served model keeps each meter's 15-min interval means and forecasts from the last complete
interval ("origin"). A reading's timestamp is the end of the span it measures (the world's 15-min
readings are averages stamped at their interval's end), so interval k holds the readings with
k·900 s < t ≤ (k+1)·900 s, and interval k is complete once a reading with t ≥ (k+1)·900 s
arrived (gridtwin.core.intervals, the functions the service uses): the answers of one
``AssessBatch`` call share the origin "last interval ended by the meter's latest reading in the
call". Truth for horizon h is the mean of the meter's readings in interval origin + h/15 min —
the interval ending h after the end of the origin, the quantity the model forecasts. Each
(meter, origin) forecast is scored once.

Baseline: the best of the meter's own naive forecasts on the same points — persistence (the
origin interval), daily naive (same interval a day before the target), when every point
has it, weekly naive, and beyond 15 min the latest-reading persistence: the mean of the readings
the call already holds in the interval after the origin, or where it holds none (a reading that
ended its interval: every on-grid 15-min reading) the origin's mean, which those newest readings
then are. The served model may use those readings too, so the baseline gets them as well; at
15 min ahead they are part of the target itself and neither may use them. Goal: beat it; at
15 min also MAPE ≤ 10 % (issue 9's simulator goal).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtwin.core.intervals import intervals_of_ns, last_complete_ns
from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import mape_pct
from training.serving_eval.verdict import Row, not_assessable

MODEL = "load_forecast"
HORIZONS_MIN = (15, 60, 1440)
STEP_S = 900
DAY, WEEK = 96, 672


def interval_loads(readings: pd.DataFrame) -> dict[str, pd.Series]:
    """Per meter: mean reported total active power (W) per 15-min interval index."""
    ts_ns = pd.to_datetime(readings["timestamp"], utc=True).astype("int64").to_numpy()
    p = readings[[f"active_power_{ph}" for ph in "abc"]].to_numpy(float).sum(axis=1)
    df = pd.DataFrame({"m": readings["meter_id"].to_numpy(), "b": intervals_of_ns(ts_ns, STEP_S), "p": p})
    return {m: g.groupby("b")["p"].mean() for m, g in df.groupby("m")}


def _answer_ns(answers: pd.DataFrame) -> np.ndarray:
    """The answers' reading times in integer ns (``ts_s`` is a float: whole seconds, as the
    world's timestamps are, convert exactly; sub-microsecond parts would not survive it)."""
    return np.round(answers["ts_s"].to_numpy(float) * 1e9).astype(np.int64)


def forecasts(answers: pd.DataFrame, readings: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per served (meter, origin) forecast with its points and, given the readings
    (aligned with the answers), ``latest_w``: the mean load of the call's readings in the
    interval after the origin (what the service held beyond its last complete interval)."""
    cols = [f"{MODEL}.h{h}.load_w" for h in HORIZONS_MIN]
    if not set(cols) <= set(answers.columns):
        return pd.DataFrame(columns=["meter_id", "origin", *cols, "short"])
    t_ns = _answer_ns(answers)
    b = intervals_of_ns(t_ns, STEP_S)
    origin = (
        pd.Series(last_complete_ns(t_ns, STEP_S))
        .groupby([answers["batch_index"].to_numpy(), answers["meter_id"].to_numpy()])
        .transform("max")
        .to_numpy()
    )
    df = answers[["meter_id", *cols]].copy()
    df["origin"] = origin
    df["latest_w"] = np.nan
    if readings is not None:
        p = readings[[f"active_power_{ph}" for ph in "abc"]].to_numpy(float).sum(axis=1)
        in_latest = pd.Series(np.where(b == origin + 1, p, np.nan))  # the interval in progress
        keys = [answers["batch_index"].to_numpy(), answers["meter_id"].to_numpy()]
        df["latest_w"] = in_latest.groupby(keys).transform("mean").to_numpy()
    df["short"] = answers[f"{MODEL}.info.detail"].astype(str).str.startswith("short history").to_numpy()
    df = df[np.isfinite(df[cols[0]].to_numpy(float))]
    return df.drop_duplicates(["meter_id", "origin"]).reset_index(drop=True)


def _points(fc: pd.DataFrame, loads: dict[str, pd.Series], h_min: int) -> dict[str, np.ndarray]:
    k = h_min // 15
    names = ("pred", "truth", "persistence", "daily", "weekly", "latest")
    out: dict[str, list[float]] = {n: [] for n in names}
    latest = fc["latest_w"] if "latest_w" in fc else pd.Series(np.nan, index=fc.index)
    for m, o, pred, last in zip(
        fc["meter_id"], fc["origin"], fc[f"{MODEL}.h{h_min}.load_w"], latest, strict=True
    ):
        y = loads.get(m, pd.Series(dtype=float))
        out["pred"].append(pred)
        out["latest"].append(last if k > 1 else np.nan)
        out["truth"].append(y.get(o + k, np.nan))
        out["persistence"].append(y.get(o, np.nan))
        out["daily"].append(y.get(o + k - DAY, np.nan))
        out["weekly"].append(y.get(o + k - WEEK, np.nan))
    arr = {n: np.asarray(v, float) for n, v in out.items()}
    if k > 1:  # the newest readings in hand: the interval in progress, else the origin they ended
        arr["latest"] = np.where(np.isfinite(arr["latest"]), arr["latest"], arr["persistence"])
    keep = np.isfinite(arr["truth"]) & np.isfinite(arr["persistence"]) & np.isfinite(arr["daily"])
    return {n: v[keep] for n, v in arr.items()}


def best_naive(pts: dict[str, np.ndarray]) -> tuple[str, float]:
    """The lowest-MAPE naive forecast on these points (weekly and latest-reading persistence only
    where every point has them)."""
    names = ["persistence", "daily"] + [
        n for n in ("weekly", "latest") if n in pts and len(pts[n]) and np.isfinite(pts[n]).all()
    ]
    scores = {n: mape_pct(pts[n], pts["truth"]) for n in names}
    best = min(scores, key=lambda n: scores[n])
    label = "latest-reading persistence" if best == "latest" else f"{best} naive"
    return f"{label} (meter's own)", scores[best]


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    fc = forecasts(answers, stream.readings)
    loads = interval_loads(stream.readings)
    out = []
    for h in HORIZONS_MIN:
        metric = f"MAPE % at {h} min ahead"
        pts = _points(fc, loads, h) if len(fc) else {"pred": np.array([])}
        if len(pts["pred"]) == 0:
            why = (
                "no scorable forecast: the stream is shorter than the 25 h of 15-min history the forecast needs "
                "plus the horizon"
                if len(fc) == 0
                else "no target interval inside the stream"
            )
            out.append(not_assessable(MODEL, cadence, metric, why))
            continue
        name, base = best_naive(pts)
        share_short = float(fc["short"].mean())
        out.append(
            Row(MODEL, cadence, metric, mape_pct(pts["pred"], pts["truth"]), base, name,
                "≤ 10 % and beat the baseline" if h == 15 else "beat the baseline", "lower",
                10.0 if h == 15 else None, len(pts["pred"]),
                f"{share_short:.0%} of forecasts from the one-day lag model (short history)")
        )  # fmt: skip
    return out
