"""The `gridtwin` command: simulate, train, forecast, assess, report, tokens and certificates."""

from __future__ import annotations

import argparse
import importlib.util
import sys


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridtwin", description="gridtwin: smart-grid digital twin")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train, evaluate and register the models")
    train.add_argument("--profile", choices=("quick", "full"), default="quick")
    train.add_argument("--only", nargs="*", help="model names (Assessment fields)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--jobs",
        type=int,
        help="models trained at once, each in its own process (default: $TRAIN_JOBS, else the cores, at most 2)",
    )
    train.add_argument("--registry", help="registry folder (default: $GRIDTWIN_REGISTRY or ./registry)")
    train.add_argument(
        "--publish",
        action="store_true",
        help="write the model reports to docs/models/ (default var/reports/models/)",
    )

    from cli.assets import register as register_assets
    from gridtwin.security.certs import register as register_certs
    from gridtwin.security.tokens import register as register_token

    register_assets(sub)
    from cli.redis_keys import register as register_redis

    register_redis(sub)
    register_token(sub)
    register_certs(sub)
    from gridtwin.clients.assess_csv import register as register_assess

    register_assess(sub)
    from gridtwin.reports.cli import register as register_reports

    register_reports(sub)
    from gridtwin.lifecycle.cli import register as register_models

    register_models(sub)
    if _has("training.lifecycle.retrain"):
        from training.lifecycle.reference import register as register_reference
        from training.lifecycle.retrain import register as register_retrain

        register_retrain(sub)
        register_reference(sub)
    if _has("gridsim.cli"):
        from gridsim.cli import register as register_sim

        register_sim(sub)
    if _has("training.forecast.cli"):
        from training.forecast.cli import register as register_forecast

        register_forecast(sub)

    args = parser.parse_args(argv)
    if args.command == "train":
        from training.pipeline import PUBLISHED_REPORT_DIR, run

        report_dir = PUBLISHED_REPORT_DIR if args.publish else None
        # With the drift reference of every registered version, from the data it was trained on.
        return run(
            profile=args.profile,
            only=args.only,
            seed=args.seed,
            registry=args.registry,
            report_dir=report_dir,
            jobs=args.jobs,
            references=True,
        )
    # Subcommands registered by other packages set their handler with set_defaults(handler=…) (gridsim's use func=…).
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.error(f"no handler for {args.command}")
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
