"""Parallel model training for `gridtwin train --jobs N` (training.pipeline.run).

Each model trains in its own worker process (spawned, so a worker starts with fresh native
libraries). The machine's cores are shared out: a worker gets `cpu_count // jobs` BLAS/OpenMP
threads and `TRAIN_N_JOBS` (the models' `ctx.n_jobs`), set in the worker's environment before
numpy, scikit-learn, LightGBM or XGBoost load there, so two workers on two cores do not
oversubscribe them (each library otherwise starts one thread per core).

Seeds are per model (`seed` of the run), so a model's result does not depend on which worker
trains it or in which order. Models that read other models of the same run (grid_stability
runs the registered upstream models over its training rows, with `$GRIDTWIN_REGISTRY` set)
start only after those finished, as they do in the sequential order. The longest models start first (seconds of the version
already in the registry), which shortens the run's wall time on few cores.

No numpy or training imports at module level: the worker initializer must run before them.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path
from typing import Any

# Environment variables that size the native thread pools (OpenBLAS, MKL, OpenMP as used by
# LightGBM/XGBoost/scikit-learn, numexpr); read once when the library loads.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def default_jobs() -> int:
    """`$TRAIN_JOBS`, else the cores, at most 2: the models' own `n_jobs` use the rest, and a
    third worker on a 2-core machine only adds memory (each holds its data set)."""
    env = os.environ.get("TRAIN_JOBS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


def threads_per_worker(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def _limit_threads(threads: int) -> None:
    """Worker initializer: runs before the worker imports any numeric library."""
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    os.environ["TRAIN_N_JOBS"] = str(threads)


def dependencies(names: Sequence[str], upstream_read: bool | None = None) -> dict[str, set[str]]:
    """Models of this run each model must wait for: grid_stability for its upstream models, when
    it reads them (training.upstream: only with `$GRIDTWIN_REGISTRY` set, the default of
    `upstream_read`); otherwise it can start at once."""
    from gridtwin.decision.stability import UPSTREAM

    if upstream_read is None:
        upstream_read = bool(os.environ.get("GRIDTWIN_REGISTRY"))
    upstream = {field for field, _ in UPSTREAM} if upstream_read else set()
    return {n: (upstream & set(names)) - {n} if n == "grid_stability" else set() for n in names}


def previous_seconds(name: str, registry: Path, fallback: Path | None = None) -> float:
    """Train seconds of the version in the registry, else in `fallback` (another profile's
    registry: the models rank alike in both), else 0: the scheduling estimate."""
    for root in (registry, fallback):
        if root is None:
            continue
        try:
            seconds = float(json.loads((root / name / "manifest.json").read_text()).get("train_seconds", 0.0))
        except (OSError, ValueError, AttributeError):
            continue
        if seconds > 0:
            return seconds
    return 0.0


def _train_in_worker(name: str, args: tuple) -> tuple[dict[str, Any] | None, float]:
    """One model in a worker: its manifest (None when it failed, traceback printed) and seconds."""
    from training.pipeline import train_one

    started = time.perf_counter()
    try:
        manifest = train_one(name, *args)
    except Exception:
        traceback.print_exc()
        manifest = None
    sys.stdout.flush()
    sys.stderr.flush()
    return manifest, time.perf_counter() - started


def run_parallel(
    names: Sequence[str],
    args: tuple,
    registry: Path,
    jobs: int,
    start: Callable[[str], None],
    done: Callable[[str, dict[str, Any] | None, float], None],
    work: Callable[[str, tuple], tuple[dict[str, Any] | None, float]] | None = None,
) -> None:
    """Train `names` (train_one(name, *args)) in `jobs` workers; `start(name)` and `done(name,
    manifest or None, seconds)` are called in this process as each starts and finishes (a failed
    model's manifest is None: a failure never stops the others). `work` (a module-level function,
    run in the worker) replaces the training, for tests."""
    work = work or _train_in_worker
    deps = dependencies(names)
    # Longest first; a registry trained for the first time ranks by the default (quick) one.
    from gridtwin.registry import registry_dir  # here: nothing numeric loads before the workers

    fallback = registry_dir(None)
    pending = sorted(names, key=lambda n: -previous_seconds(n, registry, fallback))
    finished: set[str] = set()
    threads = threads_per_worker(jobs)
    print(f"[train] {jobs} workers, {threads} thread(s) each", flush=True)
    pool = _pool(jobs, threads)
    running: dict[Future, str] = {}
    try:
        while pending or running:
            ready = [n for n in pending if deps[n] <= finished]
            for name in ready[: jobs - len(running)]:
                pending.remove(name)
                start(name)
                running[pool.submit(work, name, args)] = name
            if not running:  # cannot happen: every dependency is in `names` and finishes
                raise RuntimeError(f"no model of {pending} can start: dependencies {deps}")
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for future in completed:
                name = running.pop(future)
                finished.add(name)
                try:
                    manifest, seconds = future.result()
                except BrokenProcessPool:  # a worker died (e.g. killed out of memory)
                    print(f"[train] {name}: its worker process died", file=sys.stderr, flush=True)
                    manifest, seconds, broken = None, 0.0, True
                except Exception:  # the work raised (train_one's own errors are caught in the worker)
                    traceback.print_exc()
                    manifest, seconds = None, 0.0
                done(name, manifest, seconds)
            if broken:
                pool.shutdown(cancel_futures=True)
                pool = _pool(jobs, threads)
    finally:
        pool.shutdown()


def _pool(jobs: int, threads: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=jobs, mp_context=get_context("spawn"), initializer=_limit_threads, initargs=(threads,)
    )
