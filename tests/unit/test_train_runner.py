"""The parallel training runner (training.runner): real spawned worker processes, with a stand-in
for the training so the test checks the scheduling, not the models."""

from __future__ import annotations

import json
import os

from training.runner import dependencies, previous_seconds, run_parallel

UPSTREAM_IN_RUN = ("voltage_anomaly", "equipment_failure")


def fake_work(name: str, args: tuple) -> tuple[dict | None, float]:
    """Runs in the worker: fails for "overload_risk", else reports the worker's thread limits."""
    if name == "overload_risk":
        raise RuntimeError("this model fails")
    threads = {v: os.environ.get(v) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TRAIN_N_JOBS")}
    return {"name": name, "threads": threads, "pid": os.getpid()}, 0.0


def test_grid_stability_waits_for_its_upstream_models_in_the_run_when_it_reads_them():
    names = ["grid_stability", *UPSTREAM_IN_RUN, "load_forecast"]
    deps = dependencies(names, upstream_read=True)
    assert deps["grid_stability"] == set(UPSTREAM_IN_RUN)
    assert deps["load_forecast"] == set()
    assert dependencies(["grid_stability"], upstream_read=True) == {"grid_stability": set()}
    assert dependencies(names, upstream_read=False)["grid_stability"] == set()


def test_workers_limit_threads_order_by_dependency_and_report_failures(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDTWIN_REGISTRY", str(tmp_path))  # grid_stability reads its upstream models
    names = ["grid_stability", *UPSTREAM_IN_RUN, "overload_risk", "load_forecast"]
    # The registry's previous seconds put grid_stability first among the longest; it must still wait.
    for name, seconds in (("grid_stability", 500), ("load_forecast", 100)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text(json.dumps({"train_seconds": seconds}))
    events, finished = [], {}

    def done(name, manifest, seconds):
        events.append(("done", name))
        finished[name] = manifest

    run_parallel(names, (), tmp_path, 2, lambda name: events.append(("start", name)), done, work=fake_work)
    started = [n for e, n in events if e == "start"]
    assert sorted(started) == sorted(names) and sorted(finished) == sorted(names)
    assert started[0] == "load_forecast"  # longest first among those that can start
    gs = events.index(("start", "grid_stability"))
    assert all(("done", name) in events[:gs] for name in UPSTREAM_IN_RUN)
    assert finished["overload_risk"] is None  # a failure is reported, the others still ran
    threads = (os.cpu_count() or 1) // 2 or 1
    for name in set(names) - {"overload_risk"}:
        assert finished[name]["threads"] == dict.fromkeys(
            ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TRAIN_N_JOBS"), str(threads)
        )
        assert finished[name]["pid"] != os.getpid()


def test_a_first_run_ranks_by_the_fallback_registry(tmp_path):
    target, fallback = tmp_path / "full", tmp_path / "quick"
    for root, name, seconds in ((fallback, "frequency_stability", 24), (target, "voltage_sag", 90)):
        (root / name).mkdir(parents=True)
        (root / name / "manifest.json").write_text(json.dumps({"train_seconds": seconds}))
    assert previous_seconds("voltage_sag", target, fallback) == 90  # its own registry first
    assert previous_seconds("frequency_stability", target, fallback) == 24  # not trained there yet
    assert previous_seconds("frequency_stability", target) == 0
    assert previous_seconds("load_forecast", target, fallback) == 0
