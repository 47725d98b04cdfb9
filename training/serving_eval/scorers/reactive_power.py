"""reactive_power: the compensation the served model asks for against the world's true need.

Truth: Q_c = P·(tan φ − tan acos PF_target) from the world's true (unmeasured) total P and Q,
0 when the PF is at or above the target, leading, or the meter exports (IEC 60050-131 power
factor; the served model's own definition). Metric: total absolute error as a share of the
total true need (issue 9 goal ≤ 5 %). Baseline: no compensation (0 kvar, error 100 %).
Scored on normal readings (events and the frozen sensor excluded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered
from training.serving_eval.verdict import Row, not_assessable

MODEL = "reactive_power"


def required_kvar(p_w: np.ndarray, q_var: np.ndarray, target_pf: float) -> np.ndarray:
    """Q_c (kvar) to raise a lagging PF to ``target_pf``; 0 where no compensation is due."""
    p = np.asarray(p_w, float)
    q = np.asarray(q_var, float)
    tan_now = np.where(p > 0, q / np.where(p > 0, p, 1.0), 0.0)
    need = p * (tan_now - np.tan(np.arccos(target_pf)))
    return np.where((p > 0) & (q > 0), np.maximum(need, 0.0), 0.0) / 1e3


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str, target_pf: float = 0.95) -> list[Row]:
    metric = f"compensation error, % of the true need (target PF {target_pf})"
    lab = stream.labels
    ok = answered(answers, MODEL) & (lab["label"].to_numpy() == "normal")
    truth = required_kvar(lab["true_active_power_w"], lab["true_reactive_power_var"], target_pf)[ok]
    pred = answers[f"{MODEL}.required_compensation_kvar"].to_numpy(float)[ok]
    fin = np.isfinite(pred)
    if truth.sum() <= 0 or not fin.any():
        return [not_assessable(MODEL, cadence, metric, "no reading needs compensation, or none answered")]
    err = float(np.abs(pred[fin] - truth[fin]).sum() / truth[fin].sum() * 100)
    return [
        Row(MODEL, cadence, metric, err, 100.0, "no compensation (0 kvar)", "≤ 5 % and beat the baseline", "lower",
            5.0, int(fin.sum()), f"true need {truth[fin].mean():.3f} kvar on average")
    ]  # fmt: skip
