"""Command line: ``python -m gridsim simulate ...`` / ``python -m gridsim dataset ...``.

``register(subparsers)`` adds the same subcommands to another argparse parser (launcher).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd


def _simulate(args: argparse.Namespace) -> int:
    from gridsim.dataset import PROFILES, build_tables
    from gridsim.network import GridSettings, build_feeder
    from gridsim.scenarios import BLOCK_HOURS
    from gridsim.simulate import READING_COLUMNS, simulate

    t0 = time.time()
    st = GridSettings(args.nominal_voltage, args.nominal_frequency)
    fd = build_feeder(args.feeder, st, n_customer_meters=max(0, args.meters - 1 - 6), seed=args.seed)
    blocks = [args.scenario] * max(1, math.ceil(args.hours / BLOCK_HOURS))
    res = simulate(fd, blocks, pd.Timestamp(args.start, tz="UTC"), args.step, args.seed)
    prof = PROFILES["quick"]
    tables = build_tables(res, args.seed, prof.__class__(days={}, step_s=args.step, library_events=0))
    r = tables["readings"]
    r = r[r.meter_id.isin(fd.meters.meter_id.iloc[: args.meters])]
    r = r[r.timestamp < r.timestamp.min() + pd.Timedelta(hours=args.hours)]
    r = r[READING_COLUMNS]
    out = Path(args.out or f"data/simulate_{args.scenario}_{args.seed}.parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    r.to_parquet(out, index=False)
    print(f"wrote {len(r)} readings ({r.meter_id.nunique()} meters) to {out} in {time.time() - t0:.1f} s")
    return 0


def _dataset(args: argparse.Namespace) -> int:
    from gridsim.dataset import generate
    from gridsim.network import GridSettings

    t0 = time.time()
    st = GridSettings(args.nominal_voltage, args.nominal_frequency)
    out = generate(args.profile, args.seed, args.out, settings=st)
    print(f"dataset '{args.profile}' written to {out} in {time.time() - t0:.1f} s")
    return 0


def register(subparsers) -> None:
    """Add ``simulate`` and ``dataset`` subcommands to an argparse subparsers object."""
    from gridsim.network import FEEDERS, TRAINING_FEEDER
    from gridsim.scenarios import SCENARIOS

    def common(p):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument(
            "--nominal-voltage", type=float, default=230.0, help="phase-to-neutral nominal voltage (V)"
        )
        p.add_argument("--nominal-frequency", type=float, default=50.0, help="Hz")

    s = subparsers.add_parser("simulate", help="simulate one scenario to a readings Parquet")
    s.add_argument("--scenario", default="normal", choices=sorted(SCENARIOS))
    s.add_argument("--meters", type=int, default=20)
    s.add_argument("--hours", type=float, default=6.0)
    s.add_argument("--step", type=int, default=60, help="reading interval (s)")
    s.add_argument("--feeder", default=TRAINING_FEEDER, choices=FEEDERS)
    s.add_argument("--start", default="2023-06-01")
    s.add_argument("--out", default=None, help="output .parquet")
    common(s)
    s.set_defaults(func=_simulate)

    d = subparsers.add_parser("dataset", help="generate a labelled dataset (quick|full)")
    d.add_argument("--profile", default="quick", choices=["quick", "full"])
    d.add_argument("--out", default=None, help="output directory (default data/<profile>)")
    common(d)
    d.set_defaults(func=_dataset)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m gridsim``."""
    parser = argparse.ArgumentParser(prog="gridsim", description=__doc__)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)
