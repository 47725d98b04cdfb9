"""optimal_dispatch, load_balancing, power_flow_optimization: inapplicable recommendations.

The world's meters are single LV connections whose asset register (written into the mesh's
Redis) holds a rated current and nothing else: no battery, no genset, no customers that can be
switched between phases, no tap changer or capacitor bank. Every recommendation to act on such
equipment is inapplicable, so the right answer is always "no action". Metric: the share of
answered readings with such a recommendation (goal 0 %). Baseline: "no action" (0 %).

The test can fail (any recommendation fails it) but cannot show a gain: a served model can at
best tie the baseline, so a perfect figure is "not assessable" as a gain, never "met".
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from gridtwin.v1 import assessment_pb2
from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered
from training.serving_eval.verdict import NOT_ASSESSABLE, Row


def _dispatch(a: pd.DataFrame) -> np.ndarray:
    sp = "optimal_dispatch.dispatch_recommendation"
    battery, genset = (np.nan_to_num(a[f"{sp}.{k}"].to_numpy(float)) for k in ("battery_kw", "genset_kw"))
    return (battery != 0) | (genset != 0)


def _balancing(a: pd.DataFrame) -> np.ndarray:
    return a["load_balancing.moves.count"].to_numpy(int) > 0


def _flow(a: pd.DataFrame) -> np.ndarray:
    return a["power_flow_optimization.info.severity"].to_numpy() >= assessment_pb2.ADVISORY


#: model → (what counts as a recommendation to act, its description)
CHECKS: dict[str, tuple[Callable[[pd.DataFrame], np.ndarray], str]] = {
    "optimal_dispatch": (_dispatch, "readings with a battery or genset set-point (no such asset)"),
    "load_balancing": (_balancing, "readings proposing phase moves (no switchable customers)"),
    "power_flow_optimization": (
        _flow,
        "readings raising ADVISORY or worse for a reconfiguration (no tap changer)",
    ),
}


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    out = []
    for model, (acts, what) in CHECKS.items():
        ok = answered(answers, model)
        share = float(acts(answers)[ok].mean() * 100) if ok.any() else float("nan")
        row = Row(model, cadence, f"inapplicable recommendations, % of {what}", share, 0.0, "no action",
                  "0 % and beat the baseline", "lower", 0.0, int(ok.sum()))  # fmt: skip
        if share == 0.0:
            row.verdict = NOT_ASSESSABLE
            row.note = "no recommendation, as right; the world has no case where acting is right, so no gain over 'no action' can be shown"
        out.append(row)
    return out
