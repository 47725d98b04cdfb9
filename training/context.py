"""What a model's training function receives and returns."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PROFILES = ("quick", "full")


@dataclass
class TrainContext:
    """Shared inputs of every model's training.

    `dataset_dir` is the simulator's dataset for the profile (generated on first use);
    `work_dir` is scratch space for artifacts; `report_dir` receives the model's evaluation
    report (Markdown + PNG). `rng` is seeded from `seed` so runs are deterministic.
    """

    name: str
    profile: str
    seed: int
    dataset_dir: Path
    work_dir: Path
    report_dir: Path
    n_jobs: int = field(default_factory=lambda: int(os.environ.get("TRAIN_N_JOBS", "2")))
    # The registry being trained into: decision models read the upstream models registered
    # earlier in the same run (monitoring, maintenance and energy train first).
    registry: Path | None = None

    @cached_property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    @property
    def quick(self) -> bool:
        return self.profile == "quick"

    def table(self, name: str, feeder: str = "train") -> pd.DataFrame:
        """A table of the simulator dataset, `<dataset_dir>/<feeder>/<name>.parquet`.

        `feeder` is "train" (the training feeder), "test" (the other feeder, kept for
        generalisation tests) or a feeder name.
        """
        return pd.read_parquet(self.feeder_dir(feeder) / f"{name}.parquet")

    def feeder_dir(self, feeder: str = "train") -> Path:
        from gridsim.network import TEST_FEEDER, TRAINING_FEEDER

        name = {"train": TRAINING_FEEDER, "test": TEST_FEEDER}.get(feeder, feeder)
        return self.dataset_dir / name

    def path(self, filename: str) -> Path:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        return self.work_dir / filename


@dataclass
class Metric:
    """A held-out metric beside its naive baseline and its goal, judged honestly (issue 9).

    A goal is *not assessable* when the test cannot fail it: the value is NaN (no class or no
    positives to score) or ``not_assessable`` says why (for example a test block without
    overloads). It is *met* only when the value passes the goal **and** beats the naive
    baseline (strictly, in the metric's direction); a model that passes the number but loses
    to its baseline has missed. Goals come from the issues' texts only.
    """

    name: str
    value: float
    baseline: float | None = None
    baseline_name: str = ""
    goal: str = ""  # e.g. ">= 0.90"
    higher_is_better: bool = True
    not_assessable: str = ""  # why the test cannot judge this figure ("" = it can)
    # False for a budget (e.g. a false-alarm rate) whose baseline is a reference, not a bar:
    # the model's worth is then judged by its other metrics against the baseline.
    must_beat_baseline: bool = True

    @property
    def assessable(self) -> bool:
        return not self.not_assessable and bool(np.isfinite(self.value))

    @property
    def beats_baseline(self) -> bool | None:
        """Strictly better than the baseline; None without a (finite) baseline or value."""
        if self.baseline is None or not np.isfinite(self.baseline) or not np.isfinite(self.value):
            return None
        return self.value > self.baseline if self.higher_is_better else self.value < self.baseline

    @property
    def passes_goal(self) -> bool | None:
        """The value against the goal's number alone (None without a goal or when not assessable)."""
        if not self.goal or not self.assessable:
            return None
        op, _, number = self.goal.partition(" ")
        target = float(number)
        return {
            ">=": self.value >= target,
            "<=": self.value <= target,
            ">": self.value > target,
            "<": self.value < target,
        }[op]

    @property
    def goal_met(self) -> bool | None:
        """True only when the goal is passed and the baseline is not beaten by the baseline."""
        passes = self.passes_goal
        if passes is None:
            return None
        return bool(passes and (self.beats_baseline is not False or not self.must_beat_baseline))

    @property
    def verdict(self) -> str:
        """ "met", "missed", "missed: does not beat <baseline>", "not assessable: why" or "" (no goal)."""
        if not self.goal:
            return ""
        if not self.assessable:
            return "not assessable: " + (self.not_assessable or "no value on this test")
        if not self.passes_goal:
            return "missed"
        if self.beats_baseline is False and self.must_beat_baseline:
            return f"missed: does not beat {self.baseline_name or 'the baseline'}"
        return "met"

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "baseline": self.baseline,
            "baseline_name": self.baseline_name,
            "goal": self.goal,
            "goal_met": self.goal_met,
            "beats_baseline": self.beats_baseline,
            "assessable": self.assessable,
            "verdict": self.verdict,
            "higher_is_better": self.higher_is_better,
        }


@dataclass
class TrainResult:
    """What a training function hands to the registry."""

    algorithm: str
    artifacts: dict[str, Path]
    features: list[str]
    metrics: list[Metric]
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)  # generator version, seed, rows
    split: dict[str, Any] = field(default_factory=dict)  # how and how many rows per part
    cross_validation: dict[str, Any] = field(default_factory=dict)
    report_md: str = ""  # body of the evaluation report (plots referenced relative to it)
    notes: str = ""  # decisions, caveats, goals missed and why
    # Feature rows (n, n_features) in the full schema to time single-row and batch inference.
    latency_rows: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
