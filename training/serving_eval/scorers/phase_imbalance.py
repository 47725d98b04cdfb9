"""phase_imbalance: the served cause on open-phase readings and on normal readings.

The unbalance factors (VUF, LVUR, PVUR) are exact formulas on the measured magnitudes, not a
model; the decision tree's cause is. Truth: "open_phase" while the world has one phase open;
on normal readings "none" or "phase_concentrated_load" (the world's phases carry different
customer loads) are both right, any other cause is wrong. Metric: balanced accuracy (mean of
the two recalls). Baseline: the majority class ("none" everywhere) = 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered
from training.serving_eval.verdict import Row, not_assessable

MODEL = "phase_imbalance"
NORMAL_CAUSES = ("none", "phase_concentrated_load")


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    metric = "cause balanced accuracy (open phase vs normal)"
    label = stream.labels["label"].to_numpy()
    cause = answers[f"{MODEL}.likely_cause"].astype(str).to_numpy()
    ok = answered(answers, MODEL)
    opened, normal = ok & (label == "open_phase"), ok & (label == "normal")
    if not opened.any() or not normal.any():
        return [not_assessable(MODEL, cadence, metric, "no open-phase or no normal readings answered")]
    recall = float((cause[opened] == "open_phase").mean())
    specificity = float(np.isin(cause[normal], NORMAL_CAUSES).mean())
    return [
        Row(MODEL, cadence, metric, (recall + specificity) / 2, 0.5, "majority class (none)", "beat the baseline",
            "higher", None, int(opened.sum() + normal.sum()),
            f"open phase recognised {recall:.1%} of {int(opened.sum())}; normal readings without a wrong cause "
            f"{specificity:.1%}")
    ]  # fmt: skip
