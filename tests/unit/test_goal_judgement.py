"""Goal judgement (issue 9): not assessable, met only beside a beaten baseline, budgets."""

from __future__ import annotations

import numpy as np

from training.context import Metric
from training.forecast.ensemble import eligible_members, masked_weights
from training.report import goals_summary, metrics_table


def test_met_needs_the_goal_and_a_beaten_baseline():
    assert Metric("acc", 0.95, 0.90, "majority", ">= 0.9").verdict == "met"
    lost = Metric("acc", 0.95, 0.97, "persistence", ">= 0.9")
    assert lost.passes_goal and lost.goal_met is False
    assert lost.verdict == "missed: does not beat persistence"
    assert Metric("acc", 0.85, 0.80, "majority", ">= 0.9").verdict == "missed"
    lower = Metric("mae", 2.0, 1.5, "median", "<= 3", higher_is_better=False)
    assert lower.goal_met is False and lower.beats_baseline is False


def test_not_assessable_is_never_met():
    nan = Metric("f1", float("nan"), 0.5, "rule", ">= 0.8")
    assert nan.goal_met is None and nan.verdict.startswith("not assessable")
    empty = Metric("acc", 0.9997, 0.9999, "persistence", ">= 0.9", not_assessable="no overload in the test")
    assert empty.goal_met is None
    assert empty.verdict == "not assessable: no overload in the test"
    assert empty.as_dict()["assessable"] is False


def test_a_budget_does_not_have_to_beat_its_reference():
    fa = Metric(
        "false_alarms", 0.004, 0.0, "rule", "<= 0.01", higher_is_better=False, must_beat_baseline=False
    )
    assert fa.beats_baseline is False and fa.goal_met is True and fa.verdict == "met"


def test_report_shows_the_judgement_and_lists_misses():
    metrics = {
        m.name: m.as_dict()
        for m in (
            Metric("acc", 0.95, 0.97, "persistence", ">= 0.9"),
            Metric("f1", float("nan"), 0.5, "rule", ">= 0.8"),
            Metric("r2", 0.99, 0.5, "median", ">= 0.95"),
        )
    }
    table = metrics_table(metrics)
    assert "**missed: does not beat persistence**" in table and "| met |" in table
    summary = goals_summary(metrics)
    assert "acc = 0.95" in summary and "Not assessable on this test: f1" in summary
    assert "r2" not in summary
    # manifests from before the judgement carry goal_met only
    assert "| missed |" not in metrics_table({"x": {"value": 1.0, "goal": ">= 2", "goal_met": False}})
    assert "**missed**" in metrics_table({"x": {"value": 1.0, "goal": ">= 2", "goal_met": False}})


def test_far_worse_members_get_no_weight_and_the_naive_is_always_a_column():
    # columns: the members, then the weekly naive; judged on the mean over horizons
    mape = {"lstm": np.array([2.0, 12.0]), "prophet": np.array([14.0, 13.0]), "naive": np.array([5.0, 10.0])}
    use = eligible_members(mape, ("lstm", "prophet"))
    assert use.tolist() == [[True, False, True], [True, False, True]]  # prophet > 1.5 x lstm's 7
    # every member loses to the naive: the naive is still a column, and members near it too
    worst = {"a": np.array([6.0]), "b": np.array([9.0]), "naive": np.array([5.0])}
    assert eligible_members(worst, ("a", "b")).tolist() == [[True, False, True]]
    rng = np.random.default_rng(0)
    y = rng.normal(size=200)
    stack = np.column_stack([y + rng.normal(0, 0.1, 200), y + rng.normal(0, 0.1, 200)])
    w = masked_weights(stack, y, np.array([True, False]))
    assert w[1] == 0 and np.isclose(w.sum(), 1.0)
