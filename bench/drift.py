"""Drift detection measured on the simulated live feed (docs/lifecycle.md).

The champion's drift reference (training data of the quick profile) against sliding windows of
the live feed, with the serving code's binning, PSI and verdict (gridtwin.lifecycle.drift) and
the window settings from the environment (GRIDTWIN_DRIFT_*): the share of windows flagged on
the unchanged feed (false drift) and, after a +4 % tap change, how many readings it takes
until the window is flagged.

    python -m bench.drift [--model voltage_anomaly] [--hours 24] [--meters 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from gridsim.live import iter_live_readings
from gridtwin.features.frame import features_from_dataframe
from gridtwin.lifecycle.drift import Reference, assess, merge
from gridtwin.lifecycle.window import WindowSettings
from gridtwin.registry import load_entry
from training.lifecycle.reference import build_reference, training_features
from training.pipeline import dataset_dir


def windows(features: pd.DataFrame, ref: Reference, cfg: WindowSettings) -> list[tuple[int, bool, list[str]]]:
    """(readings so far, drifting, drivers) at the end of every bucket, as ModelHealth would answer."""
    seconds = pd.to_datetime(features["timestamp"], utc=True).astype("int64").to_numpy() // 10**9
    buckets = seconds // cfg.bucket_s
    per, sizes = {}, {}
    for b in np.unique(buckets):
        rows = features[buckets == b]
        per[b] = ref.counts({c: rows[c].to_numpy() for c in ref.columns if c in rows})
        sizes[b] = len(rows)
    out, seen = [], 0
    keys = sorted(per)
    for k, b in enumerate(keys):
        seen += sizes[b]
        inside = [x for x in keys[: k + 1] if x > b - cfg.buckets]
        status = assess(
            ref,
            merge([per[x] for x in inside]),
            sum(sizes[x] for x in inside),
            cfg.psi_threshold,
            cfg.min_readings,
        )
        out.append((seen, status.drifting, status.drivers))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="voltage_anomaly")
    parser.add_argument("--registry", default="registry")
    parser.add_argument("--hours", type=float, default=24.0, help="unchanged feed after 12 h of warm-up")
    parser.add_argument("--meters", type=int, default=12)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = WindowSettings.from_env()
    entry = load_entry(args.model, args.registry)
    assert entry is not None, f"{args.model} is not registered in {args.registry}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.json"
        path.write_text(json.dumps(build_reference(entry, training_features(dataset_dir("quick", 0)))))
        ref = Reference.load(path)
    steps = int((12 + args.hours) * 60)
    feed = pd.DataFrame(
        list(
            itertools.islice(
                iter_live_readings(meters=args.meters, speed=0, seed=args.seed, max_steps=steps),
                steps * args.meters,
            )
        )
    )
    stamps = pd.to_datetime(feed["timestamp"], utc=True)
    warm = (stamps >= stamps.min() + pd.Timedelta(hours=12)).to_numpy()
    start = stamps.min() + pd.Timedelta(hours=12)

    def after_warm_up(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[pd.to_datetime(frame["timestamp"], utc=True) >= start]

    plain = after_warm_up(features_from_dataframe(feed))
    judged = [w for w in windows(plain, ref, cfg) if w[0] >= cfg.min_readings]
    false_share = float(np.mean([w[1] for w in judged])) if judged else float("nan")
    false_drivers = Counter(d for w in judged for d in w[2])
    false_drivers = Counter(d for w in judged for d in w[2])
    tapped = feed.copy()
    for phase in "abc":
        tapped.loc[warm, f"voltage_{phase}"] *= 1.04
    after = windows(after_warm_up(features_from_dataframe(tapped)), ref, cfg)
    first = next((w for w in after if w[1]), None)
    print(
        json.dumps(
            {
                "model": args.model,
                "meters": args.meters,
                "hours": args.hours,
                "bucket_s": cfg.bucket_s,
                "window_s": cfg.window_s,
                "psi_threshold": cfg.psi_threshold,
                "min_readings": cfg.min_readings,
                "windows_judged": len(judged),
                "false_drift_share": false_share,
                "false_drift_drivers": dict(false_drivers.most_common(6)),
                "tap_flagged_after_readings": first[0] if first else None,
                "tap_drivers": first[2][:4] if first else [],
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
