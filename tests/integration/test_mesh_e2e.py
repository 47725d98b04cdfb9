"""End to end through the real mesh: seven processes on free ports and a real Redis."""

from __future__ import annotations

import queue
import threading
import time

import grpc
import pytest
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from gridtwin.core.errors import field_violations
from gridtwin.features.matrix import from_message
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.mesh import HTTP_SERVICES, SERVICES, http_ready
from gridtwin.registry import MODEL_MODULE, MODULE_MODELS
from gridtwin.v1 import assessment_pb2, gateway_pb2, reading_pb2, services_pb2, services_pb2_grpc
from tests.readings import make_reading

pytestmark = pytest.mark.mesh


def test_every_service_reports_serving(mesh):
    for service in SERVICES:
        if service in HTTP_SERVICES:
            assert http_ready(mesh.address(service)), service
            continue
        with grpc.insecure_channel(mesh.address(service)) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
            assert status.status == health_pb2.HealthCheckResponse.SERVING, service


def test_reflection_lists_the_gateway_service(mesh):
    with grpc.insecure_channel(mesh.address("gateway")) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = {s.name for r in responses for s in r.list_services_response.service}
    assert "gridtwin.v1.GridTwin" in names
    assert "grpc.health.v1.Health" in names


def test_assess_answers_all_sixteen_fields_with_status_and_timings(gateway):
    assessment = gateway.Assess(make_reading("e2e-meter-1"), timeout=10)
    assert assessment.status.code == code_pb2.OK
    assert assessment.meter_id == "e2e-meter-1"
    assert assessment.feature_schema_version == SCHEMA_VERSION
    for name in MODEL_MODULE:
        info = getattr(assessment, name).info
        assert info.model_name == name
        # The registry of this mesh is empty: a model that is not registered never invents a
        # number; it says UNAVAILABLE and why.
        assert info.status == assessment_pb2.UNAVAILABLE, name
        assert "not registered" in info.detail
    assert {m.module for m in assessment.modules} == set(MODULE_MODELS)
    assert all(m.status == assessment_pb2.OK for m in assessment.modules)
    stages = {t.stage: t.duration_ms for t in assessment.timings}
    assert set(stages) == {"ingest", *MODULE_MODELS, "total"}
    assert stages["total"] >= stages["ingest"] > 0


def test_batch_reports_bad_items_and_assesses_the_valid_ones(gateway):
    good1, good2 = make_reading("batch-m1"), make_reading("batch-m2")
    bad = make_reading("batch-m3")
    bad.voltage.b = float("nan")
    result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=[good1, bad, good2]), timeout=10)
    codes = [a.status.code for a in result.assessments]
    assert codes == [code_pb2.OK, code_pb2.INVALID_ARGUMENT, code_pb2.OK]
    assert [v.field for v in field_violations(result.assessments[1].status)] == ["voltage.b"]
    assert result.assessments[0].meter_id == "batch-m1" and result.assessments[2].meter_id == "batch-m2"
    assert result.assessments[2].voltage_anomaly.info.model_name == "voltage_anomaly"


def test_stream_answers_every_reading_in_order_and_survives_a_bad_one(gateway):
    start = time.time() - 7200
    readings = [make_reading(f"stream-m{i % 3}", t=start + i) for i in range(30)]
    readings[7].frequency = 99.0
    answers = list(gateway.AssessStream(iter(readings), timeout=30))
    assert len(answers) == 30
    assert [(a.meter_id, a.timestamp.seconds) for a in answers] == [
        (r.meter_id, r.timestamp.seconds) for r in readings
    ]
    assert answers[7].status.code == code_pb2.INVALID_ARGUMENT
    assert [v.field for v in field_violations(answers[7].status)] == ["frequency"]
    assert all(a.status.code == code_pb2.OK for i, a in enumerate(answers) if i != 7)


def test_a_replayed_reading_is_answered_as_a_duplicate_and_a_conflicting_one_rejected(mesh):
    reading = make_reading("dedup-meter", t=time.time() - 600)
    with grpc.insecure_channel(mesh.address("ingest")) as channel:
        ingest = services_pb2_grpc.IngestStub(channel)
        first = ingest.Ingest(reading_pb2.ReadingBatch(readings=[reading]), timeout=5)
        second = ingest.Ingest(reading_pb2.ReadingBatch(readings=[reading]), timeout=5)
        both = ingest.Ingest(reading_pb2.ReadingBatch(readings=[reading, reading]), timeout=5)
        changed = reading_pb2.Reading()
        changed.CopyFrom(reading)
        changed.frequency += 0.01
        conflict = ingest.Ingest(reading_pb2.ReadingBatch(readings=[changed]), timeout=5)
    assert first.results[0].status.code == code_pb2.OK and not first.results[0].duplicate
    assert from_message(first.features).shape == (1, len(FEATURE_NAMES))
    # A replay is answered OK, flagged, with no feature row: it reaches no state and no model.
    assert second.results[0].status.code == code_pb2.OK and second.results[0].duplicate
    assert all(r.status.code == code_pb2.OK and r.duplicate for r in both.results)
    assert from_message(second.features).shape == (0, len(FEATURE_NAMES))
    assert [r.feature_row for r in both.results] == [-1, -1]
    assert conflict.results[0].status.code == code_pb2.ALREADY_EXISTS
    assert "dedup-meter" in conflict.results[0].status.message
    # A replay does not count as a new reading in the meter's rolling state.
    history_count = FEATURE_NAMES.index("history_count")
    after = make_reading("dedup-meter", t=time.time() - 599)
    with grpc.insecure_channel(mesh.address("ingest")) as channel:
        third = services_pb2_grpc.IngestStub(channel).Ingest(
            reading_pb2.ReadingBatch(readings=[after]), timeout=5
        )
    assert from_message(third.features)[0, history_count] == 1


def test_a_duplicate_through_the_gateway_reaches_no_model(mesh, gateway):
    reading = make_reading("dedup-gw", t=time.time() - 500)
    first = gateway.Assess(reading, timeout=10)
    again = gateway.Assess(reading, timeout=10)
    assert not first.duplicate and len(first.modules) == 4
    assert again.duplicate and again.status.code == code_pb2.OK
    assert len(again.modules) == 0  # no module was called for it


def test_subscribe_delivers_matching_assessments_only(mesh, gateway):
    received: queue.Queue[assessment_pb2.Assessment] = queue.Queue()
    call = gateway.Subscribe(
        gateway_pb2.SubscribeRequest(meter_ids=["sub-meter-a"], models=["phase_imbalance"])
    )

    def consume() -> None:
        try:
            for assessment in call:
                received.put(assessment)
        except grpc.RpcError:
            pass

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    time.sleep(0.5)  # let the subscription reach Redis
    gateway.Assess(make_reading("sub-meter-b"), timeout=10)
    gateway.Assess(make_reading("sub-meter-a"), timeout=10)
    got = received.get(timeout=10)
    call.cancel()
    assert got.meter_id == "sub-meter-a"
    assert got.HasField("phase_imbalance") and not got.HasField("voltage_anomaly")


def test_subscribe_rejects_unknown_models(gateway):
    call = gateway.Subscribe(gateway_pb2.SubscribeRequest(models=["crystal_ball"]))
    with pytest.raises(grpc.RpcError) as err:
        next(iter(call))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_list_models_reports_every_model(gateway):
    catalog = gateway.ListModels(services_pb2.ListModelsRequest(), timeout=5)
    assert sorted(m.name for m in catalog.models) == sorted(MODEL_MODULE)
    assert all(m.module == MODEL_MODULE[m.name] for m in catalog.models)


def test_an_invalid_copy_does_not_block_the_valid_reading_with_the_same_key(mesh):
    # Only valid readings claim their key: a bad copy in the same batch cannot block the good one.
    good = make_reading("claim-meter", t=time.time() - 700)
    bad = reading_pb2.Reading()
    bad.CopyFrom(good)
    bad.voltage.a = float("nan")
    with grpc.insecure_channel(mesh.address("ingest")) as channel:
        ingest = services_pb2_grpc.IngestStub(channel)
        first = ingest.Ingest(reading_pb2.ReadingBatch(readings=[bad, good]), timeout=5)
        only_bad = ingest.Ingest(reading_pb2.ReadingBatch(readings=[bad]), timeout=5)
        replay = ingest.Ingest(reading_pb2.ReadingBatch(readings=[good]), timeout=5)
    assert first.results[0].status.code == code_pb2.INVALID_ARGUMENT
    assert first.results[1].status.code == code_pb2.OK and not first.results[1].duplicate
    assert only_bad.results[0].status.code == code_pb2.INVALID_ARGUMENT
    assert replay.results[0].duplicate and replay.results[0].status.code == code_pb2.OK


def test_a_released_claim_lets_the_corrected_reading_through(mesh):
    # A bad reading must not leave its (meter_id, timestamp) marked as seen.
    good = make_reading("release-meter", t=time.time() - 800)
    bad = reading_pb2.Reading()
    bad.CopyFrom(good)
    bad.frequency = 99.0
    with grpc.insecure_channel(mesh.address("ingest")) as channel:
        ingest = services_pb2_grpc.IngestStub(channel)
        rejected = ingest.Ingest(reading_pb2.ReadingBatch(readings=[bad]), timeout=5)
        corrected = ingest.Ingest(reading_pb2.ReadingBatch(readings=[good]), timeout=5)
    assert rejected.results[0].status.code == code_pb2.INVALID_ARGUMENT
    assert corrected.results[0].status.code == code_pb2.OK and not corrected.results[0].duplicate
