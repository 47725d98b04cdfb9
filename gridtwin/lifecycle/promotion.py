"""Automatic promotion of a challenger after a shadow period with no regression (opt-in).

`GRIDTWIN_AUTO_PROMOTE_AFTER_S` (0 = off, the default) is the shadow period: the time since
the challenger alias was set (its `challenger` event). After it, `gridtwin models
auto-promote` promotes the challenger when, on the live readings both versions answered
(the serving replicas' shadow counts in Redis, gridtwin.serving.versions.shadow_stats):

* it answered at least `GRIDTWIN_AUTO_PROMOTE_MIN_ANSWERS` readings (a period without
  traffic proves nothing);
* its share of failed or unavailable answers is no higher than the champion's, and
* its share of alarms (answers above NORMAL) is no higher than the champion's,

each "no higher" within two standard errors of the champion's rate on that many readings (a
rate of 0 is given the resolution 1/n). The live feed has no truth for most models, so these
are the regressions the shadow period can see; that the challenger is *better* was judged on
held-out data when `gridtwin retrain` registered it. The alarm check is one-sided: fewer
alarms than the champion is not called a regression here (held-out recall judged that).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gridtwin.lifecycle.store import Aliases, events


@dataclass(frozen=True)
class PromotionRules:
    after_s: float  # shadow period; 0 = automatic promotion off
    min_answers: int


@dataclass(frozen=True)
class PromotionVerdict:
    promote: bool
    detail: str


def no_higher(rate: float, reference: float, n: int) -> bool:
    """`rate` is not above `reference` by more than two standard errors of a rate on n readings."""
    variance = max(reference * (1 - reference), 1.0 / max(n, 1))
    return rate <= reference + 2 * math.sqrt(variance / max(n, 1))


def shadow_started(name: str, challenger: str, root: str | None = None) -> float | None:
    """When the alias named `challenger` the challenger (its latest `challenger` event)."""
    moves = [
        e for e in events(name, root) if e.get("action") == "challenger" and e.get("version") == challenger
    ]
    return float(moves[-1]["at"]) if moves else None


def judge(
    aliases: Aliases,
    started_at: float | None,
    stats: Mapping[str, int],
    rules: PromotionRules,
    now: float | None = None,
) -> PromotionVerdict:
    """Whether the challenger of `aliases` is promoted now, and why (or why not)."""
    if rules.after_s <= 0:
        return PromotionVerdict(False, "automatic promotion is off (GRIDTWIN_AUTO_PROMOTE_AFTER_S = 0)")
    if not aliases.challenger:
        return PromotionVerdict(False, "no challenger")
    if started_at is None:
        return PromotionVerdict(False, "no record of when the shadow period started")
    waited = (time.time() if now is None else now) - started_at
    if waited < rules.after_s:
        return PromotionVerdict(False, f"in shadow for {waited / 3600:.1f} h of {rules.after_s / 3600:g} h")
    n = int(stats.get("answers", 0))
    if n < rules.min_answers:
        return PromotionVerdict(False, f"{n} shadow answers, {rules.min_answers} needed")
    rates = {
        k: int(stats.get(k, 0)) / n
        for k in ("champion_failed", "challenger_failed", "champion_alarms", "challenger_alarms")
    }
    figures = (
        f"{n} readings: failed {rates['challenger_failed']:.2%} vs champion {rates['champion_failed']:.2%}, "
        f"alarms {rates['challenger_alarms']:.2%} vs {rates['champion_alarms']:.2%}"
    )
    if not no_higher(rates["challenger_failed"], rates["champion_failed"], n):
        return PromotionVerdict(False, f"regression (more failures) over {figures}")
    if not no_higher(rates["challenger_alarms"], rates["champion_alarms"], n):
        return PromotionVerdict(False, f"regression (more alarms) over {figures}")
    return PromotionVerdict(True, f"{waited / 3600:.1f} h of shadow without regression over {figures}")
