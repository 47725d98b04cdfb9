"""frequency_stability: the served 5-s-ahead frequency against the world's true frequency 5 s later.

Only the 1-s stream has a reading 5 s after a reading; at 1 min and 15 min the world holds no
frequency 5 s ahead, so the figure is not assessable there (the model is served, not scored).
Baseline: persistence (the reading's own measured frequency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered, future_index
from training.serving_eval.verdict import Row, not_assessable

MODEL = "frequency_stability"
AHEAD_S = 5.0


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    metric = "MAE of the 5-s-ahead frequency, mHz"
    if stream.cadence_s > AHEAD_S:
        return [
            not_assessable(
                MODEL, cadence, metric, f"no reading {AHEAD_S:.0f} s after a reading at this cadence"
            )
        ]
    ts = answers["ts_s"].to_numpy(float)
    j = future_index(ts, answers["meter_id"].to_numpy(), AHEAD_S, tol_s=0.5)
    pred = answers[f"{MODEL}.predicted_frequency_hz"].to_numpy(float)
    ok = (j >= 0) & answered(answers, MODEL) & np.isfinite(pred)
    truth = stream.labels["true_frequency_hz"].to_numpy(float)[j[ok]]
    now = stream.readings["frequency"].to_numpy(float)[ok]
    mae = float(np.mean(np.abs(pred[ok] - truth)) * 1e3)
    base = float(np.mean(np.abs(now - truth)) * 1e3)
    return [
        Row(
            MODEL,
            cadence,
            metric,
            mae,
            base,
            "persistence",
            "beat the baseline",
            "lower",
            None,
            int(ok.sum()),
        )
    ]
