"""Start the mesh, send each cadence's held-out readings through it, score every model.

The evaluation mesh raises its per-hop deadlines: this measures what the models answer, not
latency (the shared 2-core machine can exceed the production 0.5-s module deadline on a batch;
latency is bench/'s job). A reading a model did not answer counts against it.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import redis

from gridtwin.assets import write_assets
from gridtwin.mesh import Mesh, delete_redis_prefix
from training.heldout import CADENCES_S, HeldOutStream, generate
from training.serving_eval.answers import assess, to_protos
from training.serving_eval.scorers import SCORERS, Scorer, voltage_anomaly
from training.serving_eval.verdict import Row, judge

EVAL_ENV = {"MODULE_DEADLINE_S": "10", "DECISION_DEADLINE_S": "10", "INGEST_DEADLINE_S": "20"}
CADENCE_NAMES = {1.0: "1 s", 60.0: "1 min", 900.0: "15 min"}


def score_all(
    answers: pd.DataFrame, stream: HeldOutStream, cadence: str, scorers: tuple[Scorer, ...] = SCORERS
) -> list[Row]:
    """Every scorer's rows for one cadence, judged (pure: answers and truth in, rows out)."""
    if list(answers["meter_id"]) != list(stream.readings["meter_id"]):
        raise ValueError("answers are not aligned with the readings (one answer per reading, in order)")
    return [judge(row) for scorer in scorers for row in scorer(answers, stream, cadence)]


def register_assets(redis_url: str, prefix: str, stream: HeldOutStream) -> int:
    """The world's asset register (rated current per meter) into the mesh's Redis."""
    ratings = stream.labels.groupby("meter_id")["rated_current_a"].first()
    client = redis.Redis.from_url(redis_url)
    try:
        return write_assets(
            client, prefix, ({"meter_id": m, "rated_current_a": r} for m, r in ratings.items())
        )
    finally:
        client.close()


def batch_size(cadence_s: float, n_meters: int) -> int:
    """Readings per ``AssessBatch`` call: at most 250, and no more than about one 15-min interval
    of the stream (every meter's readings of 15 min), as meters that send live would. A call's
    answers come from the state after the whole call (load_forecast's origin), so a call spanning
    hours would let early readings be answered from later ones."""
    return max(n_meters, min(250, n_meters * int(900 // cadence_s)))


def only_models(registry: str | os.PathLike[str], models: tuple[str, ...], into: Path) -> Path:
    """A registry folder `into` holding only `models` (symlinks to their entries in `registry`):
    the mesh then serves just those, and the others answer UNAVAILABLE at no cost."""
    src = Path(registry).resolve()
    unknown = [m for m in models if not (src / m / "manifest.json").exists()]
    if unknown:
        raise ValueError(f"not registered in {src}: {', '.join(unknown)}")
    for m in models:
        (into / m).symlink_to(src / m, target_is_directory=True)
    return into


def run_cadence(
    mesh: Mesh, redis_url: str, stream: HeldOutStream, models: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Send one stream through a running mesh; the rows and voltage_anomaly's detail figures
    (with `models`, only those models' rows)."""
    register_assets(redis_url, mesh.redis_prefix, stream)
    n_meters = int(stream.readings["meter_id"].nunique())
    answers = assess(
        mesh.address("gateway"), to_protos(stream.readings), batch=batch_size(stream.cadence_s, n_meters)
    )
    name = CADENCE_NAMES[stream.cadence_s]
    rows = [r for r in score_all(answers, stream, name) if models is None or r.model in models]
    va = models is None or "voltage_anomaly" in models
    return {
        "rows": [r.as_dict() for r in rows],
        "voltage_anomaly": voltage_anomaly.score(answers, stream) if va else None,
        "readings": len(stream.readings),
        "meters": n_meters,
        "batch": batch_size(stream.cadence_s, n_meters),
    }


def evaluate(
    registry: str | os.PathLike[str],
    redis_url: str,
    cadences: tuple[float, ...] = CADENCES_S,
    n_meters: int = 6,
    durations: dict[float, float] | None = None,
    seed: int = 20260,
    models: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Start the mesh with ``registry`` (only ``models`` of it when given), send each cadence's
    stream, return the figures."""
    prefix = f"eval-{uuid.uuid4().hex[:10]}:"
    with tempfile.TemporaryDirectory(prefix="gridtwin-eval-registry-") as tmp:
        served = only_models(registry, models, Path(tmp)) if models else registry
        mesh = Mesh(redis_url=redis_url, redis_prefix=prefix, registry=served, extra_env=EVAL_ENV)
        mesh.start()
        results: dict[str, Any] = {}
        try:
            mesh.wait_healthy(timeout=300)
            for c in cadences:
                stream = generate(c, n_meters=n_meters, seed=seed, duration_s=(durations or {}).get(c))
                results[CADENCE_NAMES[c]] = run_cadence(mesh, redis_url, stream, models)
        finally:
            mesh.stop()
            delete_redis_prefix(redis_url, prefix)
    return results
