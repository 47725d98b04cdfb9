"""One judgement for every row: met / not met / not assessable.

A figure is "met" only when its goal holds AND it beats its naive baseline (strictly: a tie
with a baseline is not a gain). One exception, marked on the row: when the baseline is the very
definition of the labelled class (the EN 50160 ± 10 % band defines the IEEE 1159 events it is
compared on), it can be tied but never beaten; there the goal decides, a loss to the baseline is
still "not met", and the model's gain must be shown on another row that can fail it.

A row whose test lacks the class, the positives or the truth it needs is "not assessable" with
the reason, never "met".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

MET, NOT_MET, NOT_ASSESSABLE = "met", "not met", "not assessable"


@dataclass
class Row:
    """One model × cadence × metric."""

    model: str
    cadence: str
    metric: str
    served: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""
    #: "lower" or "higher": which way is better for this metric.
    better: str = "lower"
    #: The goal's threshold on ``served`` (None: the goal is to beat the baseline only).
    goal_value: float | None = None
    n: int = 0
    note: str = ""
    #: The baseline defines the truth of this row (it scores perfectly by construction): "met"
    #: needs the goal and no loss to it, instead of a strict gain.
    baseline_defines_truth: bool = field(default=False, kw_only=True)
    #: Set by the scorer only to say "not assessable" for a row it can still compute; else by
    #: ``judge``. Keyword-only, so a positional argument can never land here by mistake.
    verdict: str = field(default="", kw_only=True)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def beats(served: float, baseline: float, better: str) -> bool:
    """Strictly better than the baseline in the metric's direction."""
    return served < baseline if better == "lower" else served > baseline


def goal_holds(served: float, goal_value: float | None, better: str) -> bool:
    """The threshold holds (inclusive); no threshold: the goal is the baseline alone."""
    if goal_value is None:
        return True
    return served <= goal_value if better == "lower" else served >= goal_value


def judge(row: Row) -> Row:
    """Fill ``row.verdict`` (a row already marked not assessable keeps its mark and reason)."""
    if row.verdict == NOT_ASSESSABLE:
        return row
    if not (_finite(row.served) and _finite(row.baseline)):
        row.verdict = NOT_ASSESSABLE
        row.note = row.note or "no finite served figure or baseline"
        return row
    if row.baseline_defines_truth:
        gain = not beats(row.baseline, row.served, row.better)  # a tie is all a definition allows
    else:
        gain = beats(row.served, row.baseline, row.better)
    ok = goal_holds(row.served, row.goal_value, row.better) and gain
    row.verdict = MET if ok else NOT_MET
    return row


def not_assessable(model: str, cadence: str, metric: str, why: str) -> Row:
    """A row that says plainly why the held-out world cannot test this figure."""
    return Row(model=model, cadence=cadence, metric=metric, note=why, verdict=NOT_ASSESSABLE)
