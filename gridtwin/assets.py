"""Asset data per meter (rating, age, last maintenance): what a utility's asset register holds.

Maintenance models read it from the Redis hash `{prefix}meter:{meter_id}:asset`; readings do
not carry it. `gridtwin assets import --csv FILE` loads a utility's register (columns
`meter_id` plus any of ASSET_FIELDS); `gridtwin assets simulated` loads the simulated
feeder's register, which `make run` does for its live feed.
"""

from __future__ import annotations

import argparse
import csv
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

ASSET_FIELDS = (
    "rated_current_a",  # A, the asset's rated current (thermal limit) at the meter
    "age_years",  # equivalent age of the insulation, years of ageing at 98 degC hot spot
    "last_maintenance_unix",  # s since the epoch
)


def asset_key(prefix: str, meter_id: str) -> str:
    return f"{prefix}meter:{meter_id}:asset"


def write_assets(client: Any, prefix: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Write asset records (sync redis client); returns how many meters were written."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for record in records:
        values = {
            f: float(record[f])
            for f in ASSET_FIELDS
            if record.get(f) not in (None, "") and math.isfinite(float(record[f]))
        }
        if values:
            pipe.hset(asset_key(prefix, str(record["meter_id"])), mapping=values)
            count += 1
    pipe.execute()
    return count


def simulated_assets(feeder: str = "kerber_dorfnetz", now_s: float | None = None) -> list[dict[str, Any]]:
    """The simulated feeder's asset register: each meter's rated current from the network
    model (transformer: its rated secondary current; feeder heads: the cable rating), and the
    transformer's documented condition in the simulation (equivalent age 20 years, last
    maintained 400 days ago)."""
    from gridsim.network import build_feeder

    now_s = time.time() if now_s is None else now_s
    meters = build_feeder(feeder).meters
    out = []
    for row in meters.itertuples():
        record: dict[str, Any] = {"meter_id": row.meter_id, "rated_current_a": float(row.rated_current_a)}
        if row.kind == "transformer":
            record.update(age_years=20.0, last_maintenance_unix=now_s - 400 * 86400)
        out.append(record)
    return out


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
        records = simulated_assets(args.feeder)
    count = write_assets(redis.Redis.from_url(cfg.redis_url), cfg.redis_prefix, records)
    print(f"asset data written for {count} meters under {cfg.redis_prefix}")
    return 0
