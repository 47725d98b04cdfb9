"""Every model on the held-out world, measured through the serving path.

Starts the real mesh (gateway, ingest, features with its Redis state, the modules) on free
ports with a given registry, writes the world's asset register into its Redis, sends the
held-out world's readings (training/heldout) through the public ``AssessBatch`` in time order,
per cadence (1 s, 1 min, 15 min), and scores what the gateway answers — the code the services
run, with their Redis state, not a re-implementation (training/serving_eval).

Per model × cadence: the served figure, its naive baseline, the goal and met / not met / not
assessable ("met" only when the goal holds AND the figure beats the baseline).

    python -m training.evaluate_serving --registry registry            # → var/reports/
    python -m training.evaluate_serving --registry registry --publish  # → docs/models/, README
    python -m training.evaluate_serving --from-json var/heldout.json --publish  # re-render only
    python -m training.evaluate_serving --models phase_imbalance --cadences 60 900  # a subset, var/reports/
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from training.heldout import CADENCES_S
from training.serving_eval.answers import assess, to_protos
from training.serving_eval.report import (
    markdown,
    publish,
    publish_overview,
    publish_readme,
    voltage_anomaly_file,
)
from training.serving_eval.runner import EVAL_ENV, evaluate
from training.serving_eval.scorers.voltage_anomaly import GOALS, score

__all__ = ["EVAL_ENV", "GOALS", "assess", "evaluate", "main", "score", "to_protos"]
ROOT = Path(__file__).resolve().parent.parent


def versions(registry: Path) -> dict[str, str]:
    """Registry content hash of every model."""
    out = {}
    for manifest in sorted(registry.glob("*/manifest.json")):
        out[manifest.parent.name] = json.loads(manifest.read_text()).get("version", "?")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", default=os.environ.get("GRIDTWIN_REGISTRY", "registry"))
    ap.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    ap.add_argument("--meters", type=int, default=6)
    ap.add_argument(
        "--publish", action="store_true", help="write into docs/models/ and README (else var/reports/)"
    )
    ap.add_argument("--from-json", type=Path, help="re-render a saved var/heldout.json instead of measuring")
    ap.add_argument("--models", nargs="+", help="score only these models (never published)")
    ap.add_argument(
        "--cadences",
        nargs="+",
        type=float,
        choices=CADENCES_S,
        help="only these cadences, s (never published)",
    )
    args = ap.parse_args(argv)
    partial = bool(args.models or args.cadences)
    if partial and (args.publish or args.from_json):
        ap.error("--models/--cadences measure a subset: not with --publish or --from-json")
    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        results = evaluate(
            args.registry,
            args.redis_url,
            cadences=tuple(args.cadences or CADENCES_S),
            n_meters=args.meters,
            models=tuple(args.models) if args.models else None,
        )
    registered = versions(Path(args.registry))
    text = markdown(results, registered)
    out = ROOT / ("docs/models" if args.publish else "var/reports")
    out.mkdir(parents=True, exist_ok=True)
    publish(text, voltage_anomaly_file(results, registered.get("voltage_anomaly", "?")), out)
    if args.publish:
        publish_readme(results, ROOT / "README.md")
        publish_overview(results, out / "README.md")
    if not args.from_json:
        (ROOT / "var").mkdir(exist_ok=True)
        (ROOT / "var" / ("heldout-partial.json" if partial else "heldout.json")).write_text(
            json.dumps(results, indent=1, default=float)
        )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
