"""`gridtwin retrain NAME`: train a candidate, judge it against the champion on the same
held-out data, and register it as the challenger only when it is better.

Steps: the pipeline's `train_one` trains the candidate into a staging registry (the
simulator's dataset of the profile; `--seed` draws a different split and fit); a comparator
scores champion and candidate with their *serving* code on the same held-out data; a better
candidate is stored as a version, gets its drift reference, and the `challenger` alias (shadow
by default, or a canary share). Promotion is `gridtwin models promote NAME` — or, with
`--promote-after-s`, `promote_if_no_regression` after the shadow period (see docs/lifecycle.md).

Comparators exist for the models listed in `COMPARATORS`; for the others `retrain` says so and
registers nothing (an unjudged candidate is never offered).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.lifecycle.store import LifecycleError, set_challenger
from gridtwin.registry import MODEL_MODULE, RegistryEntry, load_entry, registry_dir
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.module import default_factory
from training.evaluate_serving import score, to_protos
from training.heldout import generate
from training.lifecycle.reference import training_features, write_reference
from training.pipeline import dataset_dir, train_one


@dataclass(frozen=True)
class Comparison:
    """Champion and candidate on the same held-out data: the metric, both values, the verdict."""

    metric: str
    champion: float
    candidate: float
    better: bool
    detail: str


def _voltage_anomaly_answers(entry: RegistryEntry, readings: pd.DataFrame) -> pd.DataFrame:
    """The served model's answers for held-out readings (features as the features service computes them)."""
    # The feature table comes back sorted by meter and time; back into the readings' order.
    features = features_from_dataframe(readings).loc[readings.index]
    model = default_factory("voltage_anomaly")(entry)  # type: ignore[misc]
    protos = to_protos(readings)
    batch = ModuleBatch(
        readings=protos,
        features=features[list(FEATURE_NAMES)].to_numpy(dtype=np.float64),
        feature_names=tuple(FEATURE_NAMES),
        schema_version=SCHEMA_VERSION,
    )
    answers = model.predict(batch)
    return pd.DataFrame(
        {
            "model_status": [a.info.status for a in answers],
            "detected": [a.anomaly_detected for a in answers],
            "detail": [a.info.detail for a in answers],
        }
    )


def compare_voltage_anomaly(
    champion: RegistryEntry, candidate: RegistryEntry, seed: int = 20260
) -> Comparison:
    """F1 over normal + IEEE 1159 event readings of the held-out world (1-min cadence, one day
    of 4 meters) must be higher; the false-alarm rate must not regress: at most the champion's
    plus two standard errors of a rate on that many normal readings (or 1 %, the goal)."""
    stream = generate(60.0, n_meters=4, seed=seed, duration_s=86400.0)
    ours = score(stream, _voltage_anomaly_answers(champion, stream.readings))["model"]
    theirs = score(stream, _voltage_anomaly_answers(candidate, stream.readings))["model"]
    normal = int((stream.labels["category"] == "normal").sum())
    rate = ours["false_alarm_rate"]
    fa_limit = max(rate + 2 * math.sqrt(rate * (1 - rate) / max(normal, 1)), 0.01)
    better = theirs["f1"] > ours["f1"] and theirs["false_alarm_rate"] <= fa_limit
    detail = (
        f"held-out F1 {theirs['f1']:.4f} vs champion {ours['f1']:.4f}; false alarms "
        f"{theirs['false_alarm_rate']:.4f} vs {ours['false_alarm_rate']:.4f} (limit {fa_limit:.4f})"
    )
    return Comparison("f1", ours["f1"], theirs["f1"], better, detail)


COMPARATORS: dict[str, Callable[[RegistryEntry, RegistryEntry], Comparison]] = {
    "voltage_anomaly": compare_voltage_anomaly,
}


@dataclass(frozen=True)
class RetrainResult:
    candidate_version: str
    comparison: Comparison | None
    registered: bool
    detail: str


def retrain(
    name: str,
    *,
    profile: str = "quick",
    seed: int = 1,
    registry: str | None = None,
    mode: str = "shadow",
    canary_share: float = 0.0,
    who: str | None = None,
) -> RetrainResult:
    """Train a candidate of `name`, compare it with the champion, maybe register it as challenger."""
    if name not in MODEL_MODULE:
        raise LifecycleError(f"unknown model {name!r}")
    compare = COMPARATORS.get(name)
    if compare is None:
        raise LifecycleError(
            f"no held-out comparator for {name} yet: a candidate cannot be judged (docs/lifecycle.md)"
        )
    champion = load_entry(name, registry)
    if champion is None:
        raise LifecycleError(f"{name} has no champion: run `gridtwin train --only {name}`")
    data = dataset_dir(profile, seed)
    staging = Path(tempfile.mkdtemp(prefix=f".retrain-{name}-", dir=registry_dir(registry)))
    try:
        train_one(name, profile, seed, data, staging, staging / "reports")
        candidate = load_entry(name, staging)
        assert candidate is not None
        if candidate.version == champion.version:
            return RetrainResult(candidate.version, None, False, "the candidate is identical to the champion")
        comparison = compare(champion, candidate)
        if not comparison.better:
            return RetrainResult(candidate.version, comparison, False, f"not better: {comparison.detail}")
        # The reference first: a module that loads the challenger finds its reference.
        write_reference(name, training_features(data), root=registry, entry=candidate)
        set_challenger(
            name,
            candidate,
            mode=mode,
            canary_share=canary_share,
            who=who,
            why=f"retrain ({profile}, seed {seed}): {comparison.detail}",
            root=registry,
        )
        return RetrainResult(candidate.version, comparison, True, comparison.detail)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("retrain", help="train a challenger, register it only when better than the champion")
    cmd.add_argument("name", choices=list(MODEL_MODULE))
    cmd.add_argument("--profile", choices=("quick", "full"), default="quick")
    cmd.add_argument("--seed", type=int, default=1, help="split and fit seed of the candidate")
    cmd.add_argument("--registry", help="registry folder (default: $GRIDTWIN_REGISTRY or ./registry)")
    cmd.add_argument("--mode", choices=("shadow", "canary"), default="shadow")
    cmd.add_argument("--canary-share", type=float, default=0.0, help="share of meters the canary answers")
    cmd.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        result = retrain(
            args.name,
            profile=args.profile,
            seed=args.seed,
            registry=args.registry,
            mode=args.mode,
            canary_share=args.canary_share,
        )
    except LifecycleError as exc:
        print(f"gridtwin retrain: {exc}", file=sys.stderr)
        return 2
    verdict = "registered as challenger" if result.registered else "not registered"
    print(f"{args.name}: candidate {result.candidate_version} {verdict}: {result.detail}")
    return 0 if result.registered else 1
