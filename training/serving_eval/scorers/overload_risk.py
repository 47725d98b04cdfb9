"""overload_risk: the served loading class 30–60 min ahead against the world's true loading.

Truth: the largest true phase current in (t + 30 min, t + 60 min] over the meter's rated
current (the world's asset register, written into the mesh's Redis), classed as the model's
label: normal < 0.8 ≤ high < 1.0 ≤ overload (pu). Readings whose window runs past the stream
are left out. Baselines: persistence (the loading class / loading now, from the measured
currents and the same rating); for the ROC AUC the better of persistence and no skill (0.5),
so a constant probability never "beats" a baseline worse than chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered, f1, roc_auc
from training.serving_eval.verdict import Row, not_assessable

MODEL = "overload_risk"
LO_S, HI_S = 1800.0, 3600.0


def future_max_loading(ts_s: np.ndarray, meter: np.ndarray, loading: np.ndarray) -> np.ndarray:
    """Max of ``loading`` over the same meter's readings in (t + 30 min, t + 60 min]; NaN where
    the window runs past the meter's last reading."""
    out = np.full(len(ts_s), np.nan)
    for m in np.unique(meter):
        idx = np.flatnonzero(meter == m)
        idx = idx[np.argsort(ts_s[idx], kind="stable")]
        t = ts_s[idx]
        s = pd.Series(loading[idx], index=pd.to_datetime(t, unit="s"))
        trailing = s.rolling(f"{int(HI_S - LO_S)}s").max().to_numpy()  # over (t − 30 min, t]
        j = np.searchsorted(t, t + HI_S, side="right") - 1
        full = t + HI_S <= t[-1]
        out[idx[full]] = trailing[j[full]]
    return out


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    lab, r = stream.labels, stream.readings
    rated = lab["rated_current_a"].to_numpy(float)
    true_now = lab[[f"true_current_{p}_a" for p in "abc"]].to_numpy(float).max(axis=1) / rated
    seen_now = r[[f"current_{p}" for p in "abc"]].to_numpy(float).max(axis=1) / rated
    fut = future_max_loading(answers["ts_s"].to_numpy(float), answers["meter_id"].to_numpy(), true_now)
    ok = answered(answers, MODEL) & np.isfinite(fut)
    y = fut[ok] >= 1.0
    metrics = ("overload F1 (30–60 min ahead)", "overload ROC AUC (30–60 min ahead)")
    if not y.any():
        return [
            not_assessable(MODEL, cadence, m, "no overload 30–60 min ahead in the scored readings")
            for m in metrics
        ]
    pred = answers[f"{MODEL}.predicted_loading_class"].astype(str).to_numpy()[ok] == "overload"
    prob = answers[f"{MODEL}.overload_probability"].to_numpy(float)[ok]
    n, note = int(ok.sum()), f"{int(y.sum())} readings with an overload ahead"
    return [
        Row(MODEL, cadence, metrics[0], f1(y, pred), f1(y, seen_now[ok] >= 1.0), "persistence (class now)",
            "beat the baseline", "higher", None, n, note),
        Row(MODEL, cadence, metrics[1], roc_auc(y, np.nan_to_num(prob)), max(roc_auc(y, seen_now[ok]), 0.5),
            "better of persistence (loading now) and no skill", "beat the baseline", "higher", None, n, note),
    ]  # fmt: skip
