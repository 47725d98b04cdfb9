"""Drift detection measured on the simulated live feed (docs/lifecycle.md).

The champion's drift reference (its inputs and outputs on the training data of the quick
profile) against sliding windows of
the live feed, with the serving code's binning, PSI and verdict (gridtwin.lifecycle.drift) and
the window settings from the environment (GRIDTWIN_DRIFT_*). One feed: 12 h of warm-up of the
features' state, then `--hours` of the unchanged feed — the share of its windows flagged is
the false drift — then a +4 % tap change for `--tap-hours` (24 h: the day window needs up to
~17 h of 12 meters to flag it): the readings from the tap change until the window is first
flagged. Windows are judged at the end of every bucket, as
ModelHealth would answer then.

    python -m bench.drift [--model voltage_anomaly] [--hours 72] [--tap-hours 24] [--meters 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gridsim.live import iter_live_readings
from gridtwin.features.frame import features_from_dataframe
from gridtwin.lifecycle.drift import Reference, assess, merge
from gridtwin.lifecycle.window import WindowSettings
from gridtwin.registry import load_entry
from training.lifecycle.reference import build_reference, training_readings
from training.lifecycle.served import served_outputs
from training.pipeline import dataset_dir

WARM_UP_H = 12.0
TAP = 1.04


@dataclass(frozen=True)
class Verdict:
    """One window as ModelHealth would judge it when its newest bucket closes."""

    end_s: int  # end of the newest bucket (readings' own time)
    readings_so_far: int  # readings since the start of the judged feed
    judged: bool  # enough readings over the whole window length
    drifting: bool
    drivers: tuple[str, ...]
    max_psi: float


def windows(features: pd.DataFrame, ref: Reference, cfg: WindowSettings) -> list[Verdict]:
    """The verdict at the end of every bucket of `features`, windows sliding as in Redis."""
    seconds = pd.to_datetime(features["timestamp"], utc=True).astype("int64").to_numpy() // 10**9
    buckets = seconds // cfg.bucket_s
    per, sizes, meters = {}, {}, {}
    for b in np.unique(buckets):
        rows = features[buckets == b]
        per[b] = ref.counts({c: rows[c].to_numpy() for c in ref.columns if c in rows})
        sizes[b] = len(rows)
        meters[b] = set(rows["meter_id"])
    out, seen = [], 0
    keys = sorted(per)
    for k, b in enumerate(keys):
        seen += sizes[b]
        inside = [x for x in keys[: k + 1] if x > b - cfg.buckets]
        readings = sum(sizes[x] for x in inside)
        span_s = int(b - inside[0] + 1) * cfg.bucket_s
        seen_meters = len(set().union(*(meters[x] for x in inside)))
        status = assess(ref, merge([per[x] for x in inside]), cfg.shape(readings, span_s, seen_meters))
        judged = readings >= cfg.min_readings and span_s >= cfg.window_s
        out.append(
            Verdict(
                int((b + 1) * cfg.bucket_s),
                seen,
                judged,
                status.drifting,
                tuple(status.drivers),
                status.max_psi,
            )
        )
    return out


def live_feed(meters: int, hours: float, seed: int) -> pd.DataFrame:
    """The simulated feeder's first `meters` meters, one reading a minute for `hours`."""
    steps = int(hours * 60)
    rows = iter_live_readings(meters=meters, speed=0, seed=seed, max_steps=steps)
    return pd.DataFrame(list(itertools.islice(rows, steps * meters)))


def outputs(model: str, registry: str, readings: pd.DataFrame) -> dict[str, np.ndarray]:
    """The champion's output columns on `readings`, as the module bins them (none for a model
    that keeps per-meter state)."""
    entry = load_entry(model, registry)
    assert entry is not None
    return served_outputs(model, entry, readings) or {}


def measure(
    ref: Reference,
    cfg: WindowSettings,
    meters: int,
    hours: float,
    tap_hours: float,
    seed: int,
    model: str = "voltage_anomaly",
    registry: str = "registry",
) -> dict:
    """False-drift share over the unchanged feed's judged windows, and readings from a +4 % tap
    change until the first flagged window (None: not flagged within `tap_hours`)."""
    feed = live_feed(meters, WARM_UP_H + hours + tap_hours, seed)
    stamps = pd.to_datetime(feed["timestamp"], utc=True)
    start = stamps.min() + pd.Timedelta(hours=WARM_UP_H)
    tap_at = start + pd.Timedelta(hours=hours)
    tapped = (stamps >= tap_at).to_numpy()
    for phase in "abc":
        feed.loc[tapped, f"voltage_{phase}"] *= TAP
    features = features_from_dataframe(feed)
    for column, values in outputs(model, registry, feed).items():
        features[column] = pd.Series(values, index=feed.index)  # the features keep the feed's index
    features = features[pd.to_datetime(features["timestamp"], utc=True) >= start]
    verdicts = windows(features, ref, cfg)
    tap_s = int(tap_at.timestamp())
    unchanged = [v for v in verdicts if v.judged and v.end_s <= tap_s]
    before_tap = max((v.readings_so_far for v in verdicts if v.end_s <= tap_s), default=0)
    first = next((v for v in verdicts if v.end_s > tap_s and v.drifting), None)
    drivers = Counter(d for v in unchanged for d in v.drivers)
    return {
        "windows_judged": len(unchanged),
        "windows_flagged": sum(v.drifting for v in unchanged),
        "false_drift_share": float(np.mean([v.drifting for v in unchanged])) if unchanged else None,
        "false_drift_drivers": dict(drivers.most_common(6)),
        "unchanged_max_psi": round(max((v.max_psi for v in unchanged), default=0.0), 4),
        "tap_flagged_after_readings": first.readings_so_far - before_tap if first else None,
        "tap_drivers": list(first.drivers[:4]) if first else [],
    }


def reference_of(model: str, registry: str) -> Reference:
    """The model's reference (inputs and outputs) as `gridtwin train` writes it (quick training data)."""
    entry = load_entry(model, registry)
    if entry is None:
        raise SystemExit(f"{model} is not registered in {registry}")
    readings = training_readings(dataset_dir("quick", 0))
    doc = build_reference(entry, features_from_dataframe(readings), outputs(model, registry, readings))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference.json"
        path.write_text(json.dumps(doc))
        return Reference.load(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="voltage_anomaly")
    parser.add_argument("--registry", default="registry")
    parser.add_argument("--hours", type=float, default=72.0, help="unchanged feed after 12 h of warm-up")
    parser.add_argument("--tap-hours", type=float, default=24.0, help="feed after the +4 %% tap change")
    parser.add_argument("--meters", type=int, default=12)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    cfg = WindowSettings.from_env()
    ref = reference_of(args.model, args.registry)
    figures = measure(ref, cfg, args.meters, args.hours, args.tap_hours, args.seed, args.model, args.registry)
    settings = {
        "bucket_s": cfg.bucket_s,
        "window_s": cfg.window_s,
        "psi_threshold": cfg.psi_threshold,
        "false_rate": cfg.false_rate,
    }
    run = {"model": args.model, "meters": args.meters, "hours": args.hours, "tap_hours": args.tap_hours}
    print(json.dumps({**run, **settings, "min_readings": cfg.min_readings, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
