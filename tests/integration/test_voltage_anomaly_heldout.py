"""Done when: held-out-world readings through the running mesh at 1 s, 1 min and 15 min meet the
voltage_anomaly goals (false alarms ≤ 1 % of normal readings, IEEE 1159 event recall ≥ 95 %,
reading-level F1 ≥ 0.8) with the quick models `make run` trains; and the README example is
not an anomaly.

Real processes, real Redis, the public AssessBatch; the held-out world (training/heldout) is a
generator training never sees. The seed differs from the one the published figures use.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from gridtwin.mesh import Mesh
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc
from tests.conftest import ROOT, cleanup_prefix, start_mesh
from training.evaluate_serving import EVAL_ENV, GOALS, assess, score, to_protos
from training.heldout import generate
from training.serving_eval.runner import batch_size

SEED = 424242
#: Stream lengths (s) per cadence: shorter than the published evaluation, same world.
DURATIONS = {1.0: 5400.0, 60.0: 2 * 86400.0, 900.0: 14 * 86400.0}


@pytest.fixture(scope="module")
def quick_mesh(redis_url: str, quick_registry: Path) -> Iterator[Mesh]:
    m = start_mesh(redis_url, quick_registry, **EVAL_ENV)
    yield m
    m.stop()
    cleanup_prefix(redis_url, m.redis_prefix)


@pytest.mark.parametrize("cadence_s", [1.0, 60.0, 900.0], ids=["1s", "1min", "15min"])
def test_heldout_world_meets_the_goals(quick_mesh: Mesh, cadence_s: float) -> None:
    stream = generate(cadence_s, n_meters=3, seed=SEED, duration_s=DURATIONS[cadence_s])
    out = assess(quick_mesh.address("gateway"), to_protos(stream.readings), batch=batch_size(cadence_s, 3))
    res = score(out, stream)
    m = res["model"]
    assert res["answered_ok"] == 1.0
    assert res["normal_readings"] > 1000 and m["events"] == 3 * 6
    assert m["false_alarm_rate"] <= GOALS["false_alarm_rate"], res["false_alarm_examples"]
    assert m["event_recall"] >= GOALS["event_recall"], res["missed_events"]
    assert m["f1"] >= GOALS["f1"]
    assert res["frozen_flagged_as_anomaly"] == 0.0  # a frozen sensor is not a voltage anomaly


def _example_module():
    spec = importlib.util.spec_from_file_location("assess_example", ROOT / "examples" / "assess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_example_is_not_an_anomaly(quick_mesh: Mesh) -> None:
    """examples/assess.py (231 / 228.7 / 233.3 V on 230 V): normal on its first reading (the
    README's call), and a meter sending such readings every minute stays normal once its
    baseline has formed."""
    example = _example_module()
    with grpc.insecure_channel(quick_mesh.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        first = stub.Assess(example.reading("readme-meter"), timeout=10).voltage_anomaly
        assert first.info.status == assessment_pb2.OK
        assert not first.anomaly_detected and first.info.severity == assessment_pb2.NORMAL
        answers = []
        for k in range(20):  # 20 minutes up to now, 1-min cadence, ±0.3 V of live noise
            r = example.reading("readme-meter-2", voltage_v=231.0 + 0.3 * ((-1) ** k))
            r.timestamp.seconds -= 60 * (20 - k)
            answers.append(stub.Assess(r, timeout=10).voltage_anomaly)
    assert all(a.info.status == assessment_pb2.OK for a in answers)
    assert not any(a.anomaly_detected for a in answers)
    assert not answers[-1].info.detail.startswith("no baseline")  # the forest judged it
