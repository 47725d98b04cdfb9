"""`gridtwin train`: train, evaluate, time and register each model, then write the overview.

Each model module in `training.models` declares its training as a `Spec` class (a
`training.spec.TrainingSpec`: data, features, split, fit, export, evaluate, report stages); the
pipeline runs the stages (`training.spec.run_stages`) and owns the rest. The pipeline
generates (or reuses) the simulator dataset of the profile, runs the models in a fixed order
with deterministic seeds, measures single-row and batch latency through the *serving* code
(`gridtwin.models.<name>.Model`), registers the model with its metrics beside the baseline
and the goal, and writes `<report_dir>/<name>.md` and the overview `<report_dir>/README.md`:
`var/reports/models/` by default, `docs/models/` only when publishing (`gridtwin train --publish`),
so that `make run` and `make test` never rewrite the committed full-profile reports.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.util
import json
import logging
import shutil
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import MODEL_MODULE, RegistryEntry, register, registry_dir
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.module import default_factory
from gridtwin.v1 import assessment_pb2, reading_pb2
from training.context import TrainContext, TrainResult
from training.report import publish_readme_table, write_model_report, write_overview
from training.spec import run_stages

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


def available_models() -> list[str]:
    return [name for name in MODEL_MODULE if importlib.util.find_spec(f"training.models.{name}") is not None]


def dataset_dir(profile: str, seed: int) -> Path:
    """The simulator dataset for `profile`, generated on first use.

    Concurrent callers (parallel training runs) serialise on a lock file; the dataset is
    written to a temporary folder and renamed into place, so a reader never sees half of it.
    """
    out = ROOT / "data" / profile
    if (out / "data_card.json").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{profile}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "data_card.json").exists():
            from gridsim.dataset import generate

            print(f"[train] generating the simulator's {profile} dataset in {out}", flush=True)
            staging = out.parent / f".{profile}.partial"
            if staging.exists():
                shutil.rmtree(staging)
            generate(profile=profile, seed=seed, out_dir=staging)
            if out.exists():
                shutil.rmtree(out)
            staging.rename(out)
    return out


def measure_latency(name: str, entry: RegistryEntry, rows: np.ndarray | None) -> dict[str, float]:
    """Single-row and batch inference time of the serving code, warm, in ms."""
    factory = default_factory(name)
    if factory is None or rows is None or len(rows) == 0:
        return {}
    model = factory(entry)

    def batch_of(matrix: np.ndarray) -> ModuleBatch:
        n = len(matrix)
        return ModuleBatch(
            readings=[reading_pb2.Reading(meter_id=f"latency-{i % 50}") for i in range(n)],
            features=matrix,
            feature_names=FEATURE_NAMES,
            schema_version=SCHEMA_VERSION,
            upstream=[assessment_pb2.Assessment() for _ in range(n)],
        )

    single = batch_of(rows[:1])
    model.warm(single)
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        model.predict(single)
        timings.append(time.perf_counter() - started)
    big = batch_of(np.resize(rows, (1000, rows.shape[1])))
    model.predict(big)
    started = time.perf_counter()
    model.predict(big)
    batch_s = time.perf_counter() - started
    return {
        "single_row_ms_p50": statistics.median(timings) * 1e3,
        "single_row_ms_p99": float(np.percentile(timings, 99)) * 1e3,
        "batch_1000_ms": batch_s * 1e3,
        "per_row_in_batch_us": batch_s / 1000 * 1e6,
    }


# Reports of ordinary runs are local output; `publish=True` (gridtwin train --publish) writes
# the committed ones in docs/models/.
DEFAULT_REPORT_DIR = ROOT / "var" / "reports" / "models"
PUBLISHED_REPORT_DIR = ROOT / "docs" / "models"


def train_one(
    name: str, profile: str, seed: int, data: Path, registry: Path, report_dir: Path | None = None
) -> dict[str, Any]:
    """Train, time, register and report one model; returns its registered manifest."""
    module = importlib.import_module(f"training.models.{name}")
    work = ROOT / "var" / "train" / profile / name
    if work.exists():
        shutil.rmtree(work)
    report_dir = report_dir or DEFAULT_REPORT_DIR
    ctx = TrainContext(
        name=name, profile=profile, seed=seed, dataset_dir=data, work_dir=work, report_dir=report_dir
    )
    started = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    result: TrainResult = run_stages(module.Spec(ctx), stage_seconds)
    train_s = time.perf_counter() - started
    manifest: dict[str, Any] = {
        "algorithm": result.algorithm,
        "hyperparameters": result.hyperparameters,
        "training_data": {"profile": profile, "seed": seed, **result.training_data},
        "split": result.split,
        "cross_validation": result.cross_validation,
        "features": result.features,
        "schema_version": SCHEMA_VERSION,
        "metrics": {m.name: m.as_dict() for m in result.metrics},
        "train_seconds": round(train_s, 2),
        "stage_seconds": stage_seconds,
        "notes": result.notes,
        **result.extra,
    }
    # Time the serving code on the exact artifacts before registering them.
    staged = RegistryEntry(
        name,
        work,
        {**manifest, "version": "staged", "artifacts": {k: str(p) for k, p in result.artifacts.items()}},
    )
    manifest["latency"] = measure_latency(name, staged, result.latency_rows)
    entry = register(name, result.artifacts, manifest, root=registry)
    write_model_report(report_dir, entry.manifest, result.report_md)
    return entry.manifest


def run(
    profile: str = "quick",
    only: list[str] | None = None,
    seed: int = 0,
    registry: str | None = None,
    report_dir: Path | None = None,
) -> int:
    """Train the models (all, or `only`); returns 0 when every one registered."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = [n for n in available_models() if not only or n in only]
    unknown = sorted(set(only or []) - set(MODEL_MODULE))
    if unknown:
        print(f"[train] unknown model(s): {unknown}; known: {list(MODEL_MODULE)}", file=sys.stderr)
        return 2
    reg = registry_dir(registry)
    print(f"[train] profile={profile} seed={seed} models={names} registry={reg}", flush=True)
    data = dataset_dir(profile, seed)
    failures = []
    total = time.perf_counter()
    for i, name in enumerate(names, 1):
        started = time.perf_counter()
        print(f"[train] ({i}/{len(names)}) {name} …", flush=True)
        try:
            manifest = train_one(name, profile, seed, data, reg, report_dir)
        except Exception:
            failures.append(name)
            traceback.print_exc()
            print(f"[train] ({i}/{len(names)}) {name} FAILED", flush=True)
            continue
        summary = ", ".join(f"{k}={v['value']:.4g}" for k, v in manifest["metrics"].items())
        print(
            f"[train] ({i}/{len(names)}) {name} v{manifest['version']} in {time.perf_counter() - started:.1f} s: {summary}",
            flush=True,
        )
    write_overview(report_dir or DEFAULT_REPORT_DIR, reg)
    if report_dir == PUBLISHED_REPORT_DIR:  # a published run also refreshes the README's table
        publish_readme_table(ROOT / "README.md", reg)
    print(f"[train] done in {time.perf_counter() - total:.1f} s; failures: {failures or 'none'}", flush=True)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"train-{profile}.json").write_text(
        json.dumps({"seconds": time.perf_counter() - total, "failures": failures, "models": names})
    )
    return 1 if failures else 0
