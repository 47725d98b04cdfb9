"""The drift reference of a model version: bins of its inputs on the training data.

Written at registration (`gridtwin train`, `gridtwin retrain`, or `gridtwin models reference
NAME` for a version registered before the lifecycle existed) next to the version, read by the
modules (gridtwin.lifecycle.drift).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridsim.network import TRAINING_FEEDER
from gridtwin.features.frame import features_from_dataframe
from gridtwin.lifecycle.store import reference_path
from gridtwin.registry import RegistryEntry, load_entry

if TYPE_CHECKING:
    from training.lifecycle.served import ServedInputs

# Bin edges at these quantiles of the reference: its central 98 % is one bin, its tails are
# split at 1 % and 0.1 %. Deciles would make PSI flag any window that covers only part of the
# normal range (an hour of a few meters on one feeder sits in two or three deciles: measured,
# docs/lifecycle.md); these bins measure how much of the window lies where the reference is
# rare, which is what a shifted input (a tap change, a recalibrated sensor) produces.
QUANTILES = (0.001, 0.01, 0.99, 0.999)
#: Rows the reference is computed from at most. Every model is run over them by the serving code
#: (training.lifecycle.served), which on the full profile's 1.2 million readings took longer than
#: the whole training; 200,000 rows put ~200 in the 0.1 % tail bin.
MAX_REFERENCE_ROWS = 200_000


def column_reference(values: np.ndarray) -> dict[str, list[float]] | None:
    """Bin edges at `QUANTILES` and the share of rows per bin; None for a constant column
    (it cannot show a shift in distribution shape, only in value: not monitored)."""
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() == values.max():
        return None
    edges = np.unique(np.quantile(values, QUANTILES))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=edges.size + 1)
    return {"edges": edges.tolist(), "shares": (counts / counts.sum()).tolist()}


def build_reference(
    entry: RegistryEntry, features: pd.DataFrame, outputs: Mapping[str, np.ndarray] | None = None
) -> dict:
    """The reference document of `entry` from a features frame (serving feature names) and, when
    given, the model's outputs on the same rows (`output.<field>`, gridtwin.lifecycle.outputs)."""
    values = {
        n: features[n].to_numpy(dtype=np.float64) for n in entry.manifest.get("features", []) if n in features
    }
    values.update(outputs or {})
    columns = []
    for name, column in values.items():
        ref = column_reference(column)
        if ref is not None:
            columns.append({"name": name, **ref})
    return {"version": entry.version, "rows": int(len(features)), "columns": columns}


def training_readings(dataset: Path, feeder: str = TRAINING_FEEDER) -> pd.DataFrame:
    """The simulator's training-feeder readings (what the models learn from)."""
    return pd.read_parquet(dataset / feeder / "readings.parquet")


def reference_sample(readings: pd.DataFrame, max_rows: int = MAX_REFERENCE_ROWS) -> pd.DataFrame:
    """Whole days of every meter, spread evenly over the span (so weekdays and weekends, the
    start and the end of the period are all in), at most about `max_rows` rows. Every meter is
    kept: the transformer meter's inputs are other models' inputs. A day is the UTC day since
    the first reading."""
    if len(readings) <= max_rows:
        return readings
    t = pd.to_datetime(readings["timestamp"], utc=True)
    day = ((t - t.min()).dt.total_seconds() // 86400).astype(int).to_numpy()
    days = np.unique(day)
    keep = max(1, int(len(days) * max_rows / len(readings)))
    chosen = days[np.unique(np.linspace(0, len(days) - 1, keep).round().astype(int))]
    return readings[np.isin(day, chosen)].reset_index(drop=True)


def training_features(dataset: Path, feeder: str = TRAINING_FEEDER) -> pd.DataFrame:
    """Serving features of the simulator's training-feeder readings (the data models learn from)."""
    return features_from_dataframe(training_readings(dataset, feeder))


def write_reference(
    name: str,
    features: pd.DataFrame,
    root: str | os.PathLike[str] | None = None,
    entry: RegistryEntry | None = None,
    readings: pd.DataFrame | None = None,
    inputs: ServedInputs | None = None,
) -> Path | None:
    """Write the reference of `entry` (default: the champion of `name`); None if unregistered.
    With the `readings` the features came from, the outputs are referenced too (models that
    keep no per-meter state: training.lifecycle.served; `inputs`: their protos and features,
    when already built for another model)."""
    from training.lifecycle.served import served_outputs

    entry = entry or load_entry(name, root)
    if entry is None:
        return None
    outputs = served_outputs(name, entry, readings, inputs) if readings is not None else None
    path = reference_path(name, entry.version, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(build_reference(entry, features, outputs)))
    os.replace(tmp, path)
    return path


def write_references(
    names: list[str] | None,
    profile: str = "quick",
    seed: int = 0,
    registry: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """References of the registered champions of `names` (all when None), from the profile's
    training data (`gridtwin train` calls this after registering)."""
    from gridtwin.registry import MODEL_MODULE
    from training.lifecycle.served import ServedInputs
    from training.pipeline import dataset_dir

    readings = reference_sample(training_readings(dataset_dir(profile, seed)))
    features = features_from_dataframe(readings)
    # The features and reading protos once for all models (each model's served outputs were
    # recomputing both: most of the references' time on the full profile).
    inputs = ServedInputs(readings, features)
    written = [
        write_reference(name, features, registry, readings=readings, inputs=inputs)
        for name in names or list(MODEL_MODULE)
    ]
    return [p for p in written if p is not None]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cmd = sub.add_parser("drift-reference", help="write the drift reference of registered models")
    cmd.add_argument("names", nargs="*", help="model names (default: all registered)")
    cmd.add_argument("--profile", choices=("quick", "full"), default="quick")
    cmd.add_argument("--registry", help="registry folder (default: $GRIDTWIN_REGISTRY or ./registry)")
    cmd.set_defaults(
        handler=lambda args: print(
            "\n".join(map(str, write_references(args.names or None, args.profile, 0, args.registry)))
        )
    )
