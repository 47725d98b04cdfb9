"""`gridtwin retrain NAME`: train a candidate, judge it against the champion on the same
held-out data, and register it as the challenger only when it is better.

Steps: the pipeline's `train_one` trains the candidate into a staging registry (the
simulator's dataset of the profile; `--seed` draws a different split and fit); a comparator
scores champion and candidate with their *serving* code on the same held-out data; a better
candidate is stored as a version, gets its drift reference, and the `challenger` alias (shadow
by default, or a canary share). Promotion is `gridtwin models promote NAME`, or, when
`GRIDTWIN_AUTO_PROMOTE_AFTER_S` is set, `gridtwin models auto-promote` after a shadow period
without regression (gridtwin.lifecycle.promotion, docs/lifecycle.md).

Comparators exist for the models listed in `training.lifecycle.compare.COMPARATORS` (which
and why the others have none is said there); for the others `retrain` says so and registers
nothing (an unjudged candidate is never offered).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gridtwin.features.frame import features_from_dataframe
from gridtwin.lifecycle.store import LifecycleError, set_challenger
from gridtwin.registry import MODEL_MODULE, load_entry, registry_dir
from training.lifecycle.compare import COMPARATORS, Comparison
from training.lifecycle.reference import training_readings, write_reference
from training.pipeline import dataset_dir, train_one


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
        readings = training_readings(data)
        features = features_from_dataframe(readings)
        write_reference(name, features, root=registry, entry=candidate, readings=readings)
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
