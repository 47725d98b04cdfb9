"""`gridtwin assets import|simulated`: load asset data (ratings, age, maintenance) into Redis."""

from __future__ import annotations

import argparse
import csv

from gridtwin.assets import ASSET_FIELDS, write_assets


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("assets", help="load asset data (ratings, age, maintenance) into Redis")
    action = parser.add_subparsers(dest="action", required=True)
    imp = action.add_parser("import", help="from a CSV with meter_id and " + ", ".join(ASSET_FIELDS))
    imp.add_argument("--csv", required=True)
    sim = action.add_parser("simulated", help="the simulated feeder's register")
    sim.add_argument("--feeder", default="kerber_dorfnetz")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import redis

    from gridtwin.core.config import settings

    cfg = settings()
    if args.action == "import":
        with open(args.csv, newline="") as handle:
            records = list(csv.DictReader(handle))
    else:
        from gridsim.assets import simulated_assets

        records = simulated_assets(args.feeder)
    count = write_assets(redis.Redis.from_url(cfg.redis_url), cfg.redis_prefix, records)
    print(f"asset data written for {count} meters under {cfg.redis_prefix}")
    return 0
