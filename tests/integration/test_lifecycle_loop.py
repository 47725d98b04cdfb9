"""The model lifecycle through the running mesh, on quick data: drift injected (a +4 % tap
change on the simulated feed) → flagged → an operator acknowledges alarms (precision in
ModelHealth) → retrained → challenger in shadow → promoted → rolled back; the answers'
`model_version` follows the champion alias and no call fails."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pandas as pd
import pytest

from gridsim.live import iter_live_readings
from gridtwin.lifecycle.store import events, promote, read_aliases, rollback
from gridtwin.records import reading_from_record
from gridtwin.v1 import assessment_pb2, gateway_pb2, gateway_pb2_grpc, reading_pb2, services_pb2
from tests.conftest import cleanup_prefix, start_mesh
from training.lifecycle.reference import training_features, write_reference
from training.lifecycle.retrain import retrain
from training.pipeline import dataset_dir, train_one

pytestmark = pytest.mark.mesh

MODEL = "voltage_anomaly"
METERS = 12
# The comparator judges F1 over every labelled anomaly of its held-out day. Measured on the
# quick models (2026-12-01): seed 0 scores 0.914, seeds 1-7 0.880-0.885 (which of them ties seed 1
# differs between machines), no false alarm. So the loop's champion is seed 1, seed 0 is judged
# better, and a refit of the champion's own seed (a tie) is refused as not better.
CHAMPION_SEED = 1
CANDIDATE_SEED = 0
NOT_BETTER_SEED = CHAMPION_SEED
DRIFT_ENV = {
    "GRIDTWIN_DRIFT_BUCKET_S": "300",
    "GRIDTWIN_DRIFT_WINDOW_S": "3600",
    "GRIDTWIN_DRIFT_MIN_READINGS": "300",
    "MODULE_DEADLINE_S": "10",
    "DECISION_DEADLINE_S": "10",
    "INGEST_DEADLINE_S": "20",
}


@pytest.fixture(scope="module")
def registry(quick_registry: Path) -> Iterator[Path]:
    """The quick models (a private copy: the loop moves aliases), with the champion's reference."""
    source = quick_registry
    path = Path(tempfile.mkdtemp(prefix="gridtwin-lifecycle-"))
    shutil.copytree(source, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("lifecycle"))
    data = dataset_dir("quick", CHAMPION_SEED)
    train_one(MODEL, "quick", CHAMPION_SEED, data, path, path / "reports")
    write_reference(MODEL, training_features(data), root=path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def lifecycle_mesh(redis_url: str, registry: Path):
    mesh = start_mesh(redis_url, registry, **DRIFT_ENV)
    yield mesh
    mesh.stop()
    cleanup_prefix(redis_url, mesh.redis_prefix)


def _feed(start: pd.Timestamp, steps: int, tap: float) -> list[reading_pb2.Reading]:
    """`steps` minutes of the simulated feeder's first meters; `tap` scales every voltage
    (an on-load tap changer one step up moves the whole feeder's voltage by that ratio)."""
    rows = list(
        itertools.islice(
            iter_live_readings(meters=METERS, speed=0, start=start, max_steps=steps), steps * METERS
        )
    )
    for row in rows:
        for phase in "abc":
            row[f"voltage_{phase}"] *= tap
    return [reading_from_record(r) for r in rows]


def _send(stub, readings: list[reading_pb2.Reading]) -> list[assessment_pb2.Assessment]:
    out = []
    for k in range(0, len(readings), 240):
        batch = stub.AssessBatch(reading_pb2.ReadingBatch(readings=readings[k : k + 240]), timeout=120)
        out.extend(batch.assessments)
    failed = [
        a.status for a in out if a.status.code != 0 or a.voltage_anomaly.info.status == assessment_pb2.FAILED
    ]
    assert not failed, f"failed calls: {failed[:3]}"
    return out


def _health(stub) -> services_pb2.RegisteredModel:
    catalog = stub.ModelHealth(services_pb2.ModelHealthRequest(models=[MODEL]), timeout=10)
    (model,) = catalog.models
    return model


def _wait_for(stub, predicate, what: str, timeout_s: float = 90.0) -> services_pb2.RegisteredModel:
    deadline = time.monotonic() + timeout_s
    while True:
        model = _health(stub)
        if predicate(model):
            return model
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not seen within {timeout_s} s: {model}")
        time.sleep(0.5)


def _psi(model: services_pb2.RegisteredModel, column: str) -> float:
    return next(c.psi for c in model.drift.columns if c.name == column)


def _alarms(stub, start: pd.Timestamp) -> list[assessment_pb2.Assessment]:
    """Stored voltage_anomaly alarms (answers above NORMAL) of the feed's meters, from History."""
    out = []
    for meter in [f.meter_id for f in stub.ListMeters(gateway_pb2.ListMetersRequest(), timeout=10).meters]:
        request = gateway_pb2.HistoryRequest(meter_id=meter, models=[MODEL], page_size=5000)
        request.start.FromDatetime(start.to_pydatetime())
        page = stub.History(request, timeout=30)
        out += [
            e.assessment
            for e in page.entries
            if e.assessment.voltage_anomaly.info.severity > assessment_pb2.NORMAL
        ]
    return out


def _acknowledge(stub, start: pd.Timestamp, champion: str) -> None:
    """An operator confirms one alarm and dismisses two: ModelHealth shows precision 1/3."""
    deadline = time.monotonic() + 60
    while len(alarms := _alarms(stub, start)) < 3:  # history stores the stream asynchronously
        assert time.monotonic() < deadline, f"fewer than 3 stored alarms after the tap change: {len(alarms)}"
        time.sleep(1.0)
    verdicts = (services_pb2.CONFIRMED, services_pb2.DISMISSED, services_pb2.DISMISSED)
    for alarm, verdict in zip(alarms[:3], verdicts, strict=True):
        ack = services_pb2.AlarmAcknowledgement(
            meter_id=alarm.meter_id, timestamp=alarm.timestamp, model=MODEL, verdict=verdict
        )
        stored = stub.AcknowledgeAlarm(ack, timeout=10)
        assert stored.model_version == champion and stored.acknowledged_by
    online = {o.version: o for o in _health(stub).online}
    assert (online[champion].alarms_confirmed, online[champion].alarms_dismissed) == (1, 2)
    assert abs(online[champion].alarm_precision - 1 / 3) < 1e-9


def test_drift_retrain_shadow_promote_rollback(lifecycle_mesh, registry):
    start = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=6)
    champion = read_aliases(MODEL, registry).champion
    with grpc.insecure_channel(lifecycle_mesh.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        # 1. Two hours of the feed as it is, then one hour after a +4 % tap change.
        _send(stub, _feed(start, 120, 1.0))
        before = _wait_for(stub, lambda m: m.drift.window_readings >= 12 * 60, "the first window")
        assert before.drift.has_reference and before.drift.version == champion
        _send(stub, _feed(start + pd.Timedelta(hours=2), 60, 1.04))
        # 2. Flagged: the window (the last hour, all after the tap change) drifts, driven by
        # the voltage inputs. (The test runs last round's hourly window to stay short; with an
        # hour the unchanged feed can be flagged too, which the default day window is not:
        # docs/lifecycle.md.)
        after = _wait_for(stub, lambda m: m.drift.window_readings == 12 * 60 and m.drift.drifting, "drift")
        # The phase voltages drive it, as per-unit values or as their z against the meter's own
        # baseline (which of the two ranks highest depends on where the feed's day starts).
        phase_voltage_inputs = {f"voltage_{p}_{form}" for p in "abc" for form in ("pu", "baseline_z")}
        assert phase_voltage_inputs & set(after.drift.drivers), after.drift.drivers
        # (The feeder-wide per-unit level alone may move towards or away from the training
        # range, depending on where the feed's set-point sits; the meter-relative inputs jump.)
        assert after.drift.max_psi > max(before.drift.max_psi, after.drift.threshold)
        _acknowledge(stub, start, champion)
        # 3. Retrained: a candidate judged worse is refused; one judged better on the same
        # held-out data becomes the challenger.
        refused = retrain(MODEL, seed=NOT_BETTER_SEED, registry=str(registry), who="test")
        assert not refused.registered and "not better" in refused.detail
        assert read_aliases(MODEL, registry).challenger is None
        result = retrain(MODEL, seed=CANDIDATE_SEED, registry=str(registry), who="test")
        assert result.registered, result.detail
        challenger = result.candidate_version
        # 4. Shadow: the challenger is scored beside the champion, its answers never returned.
        shadow = _wait_for(
            stub,
            lambda m: m.challenger_version == challenger and not m.challenger_detail,
            "challenger loaded",
        )
        assert shadow.champion_version == champion and shadow.challenger_mode == "shadow"
        answers = _send(stub, _feed(start + pd.Timedelta(hours=3), 10, 1.04))
        assert {a.voltage_anomaly.info.model_version for a in answers} == {champion}
        scored = _wait_for(
            stub,
            lambda m: any(v.alias == "challenger" and v.answers > 0 for v in m.versions),
            "shadow counts",
        )
        assert next(v for v in scored.versions if v.alias == "challenger").answers >= len(answers)
        # 5. Promoted: the answers come from the former challenger.
        promote(MODEL, who="test-admin", why="shadow period without regression", root=registry)
        _wait_for(stub, lambda m: m.version == challenger and not m.challenger_version, "promotion served")
        answers = _send(stub, _feed(start + pd.Timedelta(hours=3, minutes=10), 10, 1.04))
        assert {a.voltage_anomaly.info.model_version for a in answers} == {challenger}
        # 6. Rolled back: the former champion answers again.
        rollback(MODEL, who="test-admin", why="operator rollback drill", root=registry)
        _wait_for(stub, lambda m: m.version == champion, "rollback served")
        answers = _send(stub, _feed(start + pd.Timedelta(hours=3, minutes=20), 10, 1.04))
        assert {a.voltage_anomaly.info.model_version for a in answers} == {champion}
        catalog = stub.ListModels(services_pb2.ListModelsRequest(), timeout=10)
    listed = {m.name: m for m in catalog.models}
    assert listed[MODEL].champion_version == champion and listed[MODEL].drift.has_reference
    moves = [(e["action"], e["version"], e["who"]) for e in events(MODEL, registry)]
    assert moves == [
        ("challenger", challenger, "test"),
        ("promote", challenger, "test-admin"),
        ("rollback", champion, "test-admin"),
    ]
