"""The `gridtwin` command: simulate, train, forecast, report."""

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
    train.add_argument("--registry", help="registry folder (default: $GRIDTWIN_REGISTRY or ./registry)")

    from gridtwin.assets import register as register_assets

    register_assets(sub)
    from gridtwin.reports.cli import register as register_reports

    register_reports(sub)
    if _has("gridsim.cli"):
        from gridsim.cli import register as register_sim

        register_sim(sub)
    if _has("gridtwin.forecast.cli"):
        from gridtwin.forecast.cli import register as register_forecast

        register_forecast(sub)

    args = parser.parse_args(argv)
    if args.command == "train":
        from training.pipeline import run

        return run(profile=args.profile, only=args.only, seed=args.seed, registry=args.registry)
    # Subcommands registered by other packages set their handler with set_defaults(handler=…) (gridsim's use func=…).
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.error(f"no handler for {args.command}")
    return int(handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
