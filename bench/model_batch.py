"""Time served models' `predict` on one 1,000-row batch of simulator readings (µs per reading).

    python -m bench.model_batch --registry /tmp/reg voltage_sag overload_risk …

No Redis: `prepare` is not run, so per-meter state comes from the registered tables (as
in `training.pipeline.measure_latency`). Every other row of the batch has its minimum
phase voltage pushed below 0.9 pu so that voltage_sag's in-progress forests run too. The
figure is the median of `--repeat` warm calls; on a shared machine it is indicative only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
from google.protobuf.timestamp_pb2 import Timestamp

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.module import default_factory
from gridtwin.v1 import assessment_pb2, reading_pb2
from training.pipeline import dataset_dir


def simulator_batch(n: int = 1000, feeder: str = "kerber_dorfnetz") -> ModuleBatch:
    r = pd.read_parquet(dataset_dir("quick", 0) / feeder / "readings.parquet")
    r = r[r.groupby("meter_id").cumcount() < 200]  # enough history per meter, quick to compute
    feats = features_from_dataframe(r)
    feats = feats[feats.groupby("meter_id").cumcount() >= 60]
    feats = feats.iloc[np.linspace(0, len(feats) - 1, n).astype(int)]
    x = feats[list(FEATURE_NAMES)].to_numpy(float)
    col = list(FEATURE_NAMES).index("voltage_min_pu")
    x[::2, col] = np.minimum(x[::2, col], 0.6)
    protos = []
    for m, t in zip(feats["meter_id"], feats["timestamp"], strict=True):
        ts = Timestamp()
        ts.FromNanoseconds(int(pd.Timestamp(t).value))
        protos.append(reading_pb2.Reading(meter_id=str(m), timestamp=ts))
    return ModuleBatch(
        readings=protos,
        features=x,
        feature_names=FEATURE_NAMES,
        schema_version=SCHEMA_VERSION,
        upstream=[assessment_pb2.Assessment() for _ in protos],
    )


def time_model(name: str, registry: str, batch: ModuleBatch, repeat: int) -> dict[str, float | str]:
    entry = load_entry(name, registry)
    model = default_factory(name)(entry)
    model.predict(batch)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        model.predict(batch)
        runs.append(time.perf_counter() - started)
    return {
        "algorithm": entry.algorithm,
        "us_per_reading": statistics.median(runs) / len(batch) * 1e6,
        "us_per_reading_min": min(runs) / len(batch) * 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--registry", required=True)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    batch = simulator_batch()
    out = {name: time_model(name, args.registry, batch, args.repeat) for name in args.models}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
