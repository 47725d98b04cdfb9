"""Failures the mesh must absorb: a module killed mid-run, a late module, a restarted
feature service, and two feature replicas updating one meter at once."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import grpc
import pytest
import redis

from gridtwin.features.matrix import from_message
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.features.state import profile_key
from gridtwin.mesh import Mesh
from gridtwin.registry import MODULE_MODELS
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc, reading_pb2, services_pb2_grpc
from tests.conftest import cleanup_prefix, start_mesh
from tests.readings import make_reading

pytestmark = pytest.mark.mesh


@pytest.fixture
def own_mesh(redis_url, empty_registry):
    m = start_mesh(redis_url, empty_registry)
    yield m
    m.stop()
    cleanup_prefix(redis_url, m.redis_prefix)


def _stub(mesh: Mesh):
    channel = grpc.insecure_channel(mesh.address("gateway"))
    return channel, gateway_pb2_grpc.GridTwinStub(channel)


def test_a_killed_module_degrades_the_assessment_instead_of_failing_it(own_mesh):
    channel, gateway = _stub(own_mesh)
    with channel:
        assert gateway.Assess(make_reading("kill-m"), timeout=10).status.code == 0
        own_mesh.stop_service("maintenance", sig=signal.SIGKILL)
        for _ in range(3):  # mid-run: keep going after the kill
            assessment = gateway.Assess(make_reading("kill-m"), timeout=10)
            assert assessment.status.code == 0
            modules = {m.module: m for m in assessment.modules}
            assert modules["maintenance"].status == assessment_pb2.UNAVAILABLE
            assert "maintenance" in modules["maintenance"].detail
            assert modules["monitoring"].status == assessment_pb2.OK
            assert modules["decision"].status == assessment_pb2.OK
            for name in MODULE_MODELS["maintenance"]:
                info = getattr(assessment, name).info
                assert info.status == assessment_pb2.UNAVAILABLE
                assert "maintenance" in info.detail


def test_a_hung_module_is_cut_off_at_its_deadline(own_mesh):
    # SIGSTOP freezes the energy process: its socket accepts, nothing answers (a hang, a
    # long GC pause). The gateway must answer at the module deadline with energy DEGRADED.
    channel, gateway = _stub(own_mesh)
    proc = own_mesh.procs["energy"]
    with channel:
        gateway.Assess(make_reading("hung-m"), timeout=10)
        proc.send_signal(signal.SIGSTOP)
        try:
            assessment = gateway.Assess(make_reading("hung-m"), timeout=10)
        finally:
            proc.send_signal(signal.SIGCONT)
    assert assessment.status.code == 0
    modules = {m.module: m for m in assessment.modules}
    assert modules["energy"].status == assessment_pb2.DEGRADED
    assert "DEADLINE_EXCEEDED" in modules["energy"].detail
    assert modules["monitoring"].status == assessment_pb2.OK
    for name in MODULE_MODELS["energy"]:
        assert getattr(assessment, name).info.status == assessment_pb2.UNAVAILABLE


def _compute(address: str, reading: reading_pb2.Reading) -> list[float]:
    with grpc.insecure_channel(address) as channel:
        batch = services_pb2_grpc.FeaturesStub(channel).Compute(
            reading_pb2.ReadingBatch(readings=[reading]), timeout=10
        )
    return list(from_message(batch.features)[0])


def test_feature_state_survives_a_restart_of_the_feature_service(own_mesh):
    t0 = time.time() - 1000
    address = own_mesh.address("features")
    _compute(address, make_reading("restart-m", t=t0, frequency_hz=50.00))
    _compute(address, make_reading("restart-m", t=t0 + 2, frequency_hz=50.02))
    assert own_mesh.stop_service("features") == 0  # SIGTERM: graceful
    own_mesh.start(["features"])
    own_mesh.wait_healthy(["features"], timeout=60)
    values = _compute(address, make_reading("restart-m", t=t0 + 3, frequency_hz=50.05))
    named = dict(zip(FEATURE_NAMES, values, strict=True))
    assert named["history_count"] == 2
    assert named["dt_s"] == pytest.approx(1.0)
    assert named["frequency_lag_1"] == pytest.approx(50.02)
    assert named["rocof_hz_per_s"] == pytest.approx(0.03)


def test_two_feature_replicas_never_lose_a_reading_of_one_meter(redis_url):
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    replicas = [Mesh(redis_url=redis_url, redis_prefix=prefix) for _ in range(2)]
    try:
        for replica in replicas:
            replica.start(["features"])
        for replica in replicas:
            replica.wait_healthy(["features"], timeout=60)
        t0 = time.time() - 5000
        per_thread, threads = 60, 4
        errors: list[BaseException] = []

        def send(k: int) -> None:
            address = replicas[k % 2].address("features")
            try:
                with grpc.insecure_channel(address) as channel:
                    stub = services_pb2_grpc.FeaturesStub(channel)
                    for i in range(per_thread):
                        reading = make_reading("shared-meter", t=t0 + k * per_thread + i)
                        stub.Compute(reading_pb2.ReadingBatch(readings=[reading]), timeout=10)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        workers = [threading.Thread(target=send, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors
        profile = redis.Redis.from_url(redis_url).hgetall(profile_key(prefix, "shared-meter"))
        assert int(profile[b"readings"]) == per_thread * threads
    finally:
        for replica in replicas:
            replica.stop()
        cleanup_prefix(redis_url, prefix)


def test_connection_ageing_cuts_neither_internal_calls_nor_a_long_stream(redis_url, empty_registry):
    # Internal servers close each connection after 1 s (so clients re-resolve DNS and see new
    # pods); calls must not fail, and the gateway's long-lived stream must not be cut.
    mesh = start_mesh(
        redis_url, empty_registry, GRPC_MAX_CONNECTION_AGE_S="1", GRPC_MAX_CONNECTION_AGE_GRACE_S="1"
    )
    try:
        t0 = time.time() - 3000

        def paced():
            for i in range(40):
                time.sleep(0.1)
                yield make_reading("aged-m", t=t0 + i)

        channel, gateway = _stub(mesh)
        with channel:
            answers = list(gateway.AssessStream(paced(), timeout=60))
        assert len(answers) == 40
        assert all(a.status.code == 0 for a in answers), {a.status.message for a in answers}
        assert all(m.status == assessment_pb2.OK for a in answers for m in a.modules)
    finally:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)
