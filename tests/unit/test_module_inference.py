"""Module inference off the event loop, skipped when the caller's deadline has passed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.module import DeadlinePassed, ModuleServicer


@pytest.fixture
def servicer(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDTWIN_REGISTRY", str(tmp_path))  # empty: every model UNAVAILABLE
    module = ModuleServicer("monitoring", {}, tuple(FEATURE_NAMES), SCHEMA_VERSION)
    module.load_all()
    yield module
    module.close()


async def test_inference_runs_on_the_module_thread_not_the_event_loop(servicer):
    seen = {}
    original = servicer.evaluate

    def spy(batch):
        seen["thread"] = threading.current_thread().name
        return original(batch)

    servicer.evaluate = spy
    results = await servicer.infer(servicer.warm_batch(), deadline=time.monotonic() + 5)
    assert len(results) == 2
    assert seen["thread"].startswith("monitoring-inference")
    assert seen["thread"] != threading.current_thread().name


async def test_a_passed_deadline_or_a_cancelled_call_skips_inference(servicer):
    calls = []
    servicer.evaluate = lambda batch: calls.append(batch) or []
    with pytest.raises(DeadlinePassed):
        await servicer.infer(servicer.warm_batch(), deadline=time.monotonic() - 0.001)
    with pytest.raises(DeadlinePassed):
        await servicer.infer(servicer.warm_batch(), deadline=None, cancelled=lambda: True)
    assert calls == []


async def test_the_event_loop_stays_responsive_while_a_model_computes(servicer):
    release = threading.Event()
    servicer.evaluate = lambda batch: release.wait(10) and []
    task = asyncio.create_task(servicer.infer(servicer.warm_batch()))
    ticks = 0
    for _ in range(5):  # the loop keeps running other work while inference blocks its thread
        await asyncio.sleep(0.01)
        ticks += 1
    assert ticks == 5 and not task.done()
    release.set()
    assert await asyncio.wait_for(task, 10) == []
