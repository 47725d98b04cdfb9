"""Upstream model outputs for training the grid-stability ensemble (training path only).

Runs the registered, served monitoring and maintenance models over training rows, so the
stability model is trained on the same upstream outputs that serving passes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gridtwin.decision.stability import UPSTREAM
from gridtwin.v1 import assessment_pb2


def upstream_registry(ctx: object) -> str | None:
    """Where the upstream models of this training run are registered, if known.

    `TrainContext` has no registry field yet: a `registry` attribute is used when the pipeline
    provides one, else `$GRIDTWIN_REGISTRY`; without either no upstream outputs are used.
    """
    import os

    return getattr(ctx, "registry", None) or os.environ.get("GRIDTWIN_REGISTRY") or None


def run_upstream(
    registry: str, frame, feature_names: Sequence[str], schema_version: str, chunk: int = 4096
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Run the registered, served upstream models on training rows (training path).

    `frame` holds meter_id, timestamp and the schema features. Models that need per-meter
    Redis state get no `prepare` here and answer DEGRADED/UNAVAILABLE: their outputs are NaN.
    Returns (n, len(UPSTREAM)) values, the "field.output" names and per-field status notes.
    """
    import pandas as pd
    from google.protobuf.timestamp_pb2 import Timestamp

    from gridtwin.registry import RegistryError, load_entry
    from gridtwin.serving.model import ModuleBatch
    from gridtwin.serving.module import default_factory
    from gridtwin.v1 import reading_pb2

    names = [f"{f}.{o}" for f, o in UPSTREAM]
    out = np.full((len(frame), len(UPSTREAM)), np.nan)
    notes: dict[str, str] = {}
    x = frame[list(feature_names)].to_numpy(float)
    stamps = pd.to_datetime(frame["timestamp"]).astype("int64").to_numpy()
    meters = frame["meter_id"].astype(str).to_numpy()
    readings = []
    for m, t in zip(meters, stamps, strict=True):
        ts = Timestamp()
        ts.FromNanoseconds(int(t))
        readings.append(reading_pb2.Reading(meter_id=m, timestamp=ts))
    for fld in dict.fromkeys(f for f, _ in UPSTREAM):
        try:
            entry = load_entry(fld, registry)
        except RegistryError as exc:
            notes[fld] = f"rejected: {exc}"
            continue
        factory = default_factory(fld)
        if entry is None or factory is None:
            notes[fld] = "not registered"
            continue
        cols = [j for j, (f, _) in enumerate(UPSTREAM) if f == fld]
        try:  # an upstream model that cannot load or answer is left out, like in serving
            model = factory(entry)
            for a in range(0, len(frame), chunk):
                b = ModuleBatch(
                    readings=readings[a : a + chunk],
                    features=x[a : a + chunk],
                    feature_names=feature_names,
                    schema_version=schema_version,
                    upstream=[assessment_pb2.Assessment() for _ in range(min(chunk, len(frame) - a))],
                )
                for i, msg in enumerate(model.predict(b)):
                    if msg.info.status == assessment_pb2.OK:
                        for j in cols:
                            out[a + i, j] = getattr(msg, UPSTREAM[j][1])
        except Exception as exc:  # noqa: BLE001 - any failure of another team's model is reported, not fatal
            out[:, cols] = np.nan
            notes[fld] = f"failed: {type(exc).__name__}: {exc}"
            continue
        notes[fld] = f"{entry.version}: {np.isfinite(out[:, cols[0]]).mean():.0%} of rows OK"
    return out, names, notes
