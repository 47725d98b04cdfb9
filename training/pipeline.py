"""`gridtwin train`: train, evaluate, time and register each model, then write the overview.

Each model module in `training.models` declares its training as a `Spec` class (a
`training.spec.TrainingSpec`: data, features, split, fit, export, evaluate, report stages); the
pipeline runs the stages (`training.spec.run_stages`) and owns the rest. The pipeline
generates (or reuses) the simulator dataset of the profile, runs the models with deterministic
seeds (in `jobs` worker processes, training.runner; one after another with jobs=1), measures single-row and batch latency through the *serving* code
(`gridtwin.models.<name>.Model`), registers the model with its metrics beside the baseline
and the goal, and writes `<report_dir>/<name>.md` and the overview `<report_dir>/README.md`:
`var/reports/models/` by default, `docs/models/` only when publishing (`gridtwin train --publish`),
so that `make run` and `make test` never rewrite the committed full-profile reports.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import importlib.util
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
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
    started, cpu_started = time.perf_counter(), time.process_time()
    stage_seconds: dict[str, float] = {}
    result: TrainResult = run_stages(module.Spec(ctx), stage_seconds)
    train_s = time.perf_counter() - started
    # CPU time of this process (all its threads): comparable on a shared machine, unlike wall time.
    train_cpu_s = time.process_time() - cpu_started
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
        "train_cpu_seconds": round(train_cpu_s, 2),
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
    jobs: int | None = None,
    references: bool = False,
) -> int:
    """Train the models (all, or `only`) in `jobs` worker processes (training.runner; 1 = in
    this process, one after another), then write the overview and, with `references`, the
    drift references; returns 0 when every one registered."""
    from training.runner import default_jobs, run_parallel

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = [n for n in available_models() if not only or n in only]
    unknown = sorted(set(only or []) - set(MODEL_MODULE))
    if unknown:
        print(f"[train] unknown model(s): {unknown}; known: {list(MODEL_MODULE)}", file=sys.stderr)
        return 2
    reg = registry_dir(registry)
    jobs = min(jobs or default_jobs(), max(1, len(names)))
    print(f"[train] profile={profile} seed={seed} models={names} registry={reg} jobs={jobs}", flush=True)
    data = dataset_dir(profile, seed)  # generated once here, before any worker reads it
    failures: list[str] = []
    seconds: dict[str, float] = {}
    total = time.perf_counter()
    index = {n: f"({i}/{len(names)})" for i, n in enumerate(names, 1)}

    def start(name: str) -> None:
        print(f"[train] {index[name]} {name} …", flush=True)

    def done(name: str, manifest: dict[str, Any] | None, took: float) -> None:
        seconds[name] = round(took, 1)
        if manifest is None:
            failures.append(name)
            print(f"[train] {index[name]} {name} FAILED", flush=True)
            return
        summary = ", ".join(f"{k}={v['value']:.4g}" for k, v in manifest["metrics"].items())
        print(f"[train] {index[name]} {name} v{manifest['version']} in {took:.1f} s: {summary}", flush=True)

    args = (profile, seed, data, reg, report_dir)
    with _run_cache(profile):
        if jobs > 1:
            run_parallel(names, args, reg, jobs, start, done)
        else:
            for name in names:
                start(name)
                done(name, *_train_here(name, args))
    write_overview(report_dir or DEFAULT_REPORT_DIR, reg)
    if report_dir == PUBLISHED_REPORT_DIR:  # a published run also refreshes the README's table
        publish_readme_table(ROOT / "README.md", reg)
    train_s = time.perf_counter() - total
    print(f"[train] trained in {train_s:.1f} s; failures: {failures or 'none'}", flush=True)
    reference_s = _write_references(names, profile, seed, reg) if references else 0.0
    print(f"[train] done in {time.perf_counter() - total:.1f} s; failures: {failures or 'none'}", flush=True)
    (ROOT / "var").mkdir(exist_ok=True)
    (ROOT / "var" / f"train-{profile}.json").write_text(
        json.dumps(
            {
                "seconds": time.perf_counter() - total,
                "train_seconds": train_s,
                "reference_seconds": reference_s,
                "jobs": jobs,
                "model_seconds": seconds,
                "failures": failures,
                "models": names,
            }
        )
    )
    return 1 if failures else 0


@contextlib.contextmanager
def _run_cache(profile: str) -> Iterator[None]:
    """The run's cache of shared tables (training.runcache), removed when the run ends; the
    worker processes inherit its path from the environment."""
    from training.runcache import CACHE_ENV

    (ROOT / "var").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"run-cache-{profile}-", dir=ROOT / "var"))
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous
        shutil.rmtree(folder, ignore_errors=True)


def _train_here(name: str, args: tuple) -> tuple[dict[str, Any] | None, float]:
    """One model in this process (jobs=1): its manifest (None when it failed) and seconds."""
    started = time.perf_counter()
    try:
        return train_one(name, *args), time.perf_counter() - started
    except Exception:
        traceback.print_exc()
        return None, time.perf_counter() - started


def _write_references(names: list[str], profile: str, seed: int, registry: Path) -> float:
    """The drift reference of every registered version of `names`, from its training data."""
    from training.lifecycle.reference import write_references

    started = time.perf_counter()
    write_references(names, profile, seed, registry)
    took = time.perf_counter() - started
    print(f"[train] drift references in {took:.1f} s", flush=True)
    return took
