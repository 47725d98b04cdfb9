"""History through real processes: gateway → Redis Stream → history service → database.

The mesh runs ingest, features, history and the gateway (the model modules are not started:
their fields answer UNAVAILABLE, the assessments are still OK and stored). Redis is real with
a unique prefix; the database is a SQLite file of the test, or a PostgreSQL database of its own.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Iterator

import grpc
import pytest
import redis
from google.rpc import code_pb2
from grpc_status import rpc_status

from gridtwin.core.errors import field_violations
from gridtwin.history.repository import Repository
from gridtwin.history.stream import GROUP, stream_key
from gridtwin.mesh import Mesh
from gridtwin.v1 import assessment_pb2, gateway_pb2, gateway_pb2_grpc, reading_pb2
from tests.conftest import cleanup_prefix
from tests.readings import make_reading

pytestmark = pytest.mark.mesh

CORE = ("features", "ingest", "history", "gateway")


def start_core(redis_url: str, registry, database_url: str | None = None, **env: str) -> Mesh:  # type: ignore[no-untyped-def]
    mesh = Mesh(
        redis_url=redis_url,
        redis_prefix=f"test-{uuid.uuid4().hex[:10]}:",
        registry=registry,
        database_url=database_url,
        extra_env={"HISTORY_CLAIM_IDLE_MS": "1500", "HISTORY_BLOCK_MS": "200", **env},
    )
    mesh.start(CORE)
    try:
        mesh.wait_healthy(CORE, timeout=120)
    except Exception:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)
        raise
    return mesh


@pytest.fixture(scope="module")
def core_mesh(redis_url, empty_registry) -> Iterator[Mesh]:  # type: ignore[no-untyped-def]
    mesh = start_core(redis_url, empty_registry)
    yield mesh
    mesh.stop()
    cleanup_prefix(redis_url, mesh.redis_prefix)


def _gateway(mesh: Mesh) -> tuple[grpc.Channel, gateway_pb2_grpc.GridTwinStub]:
    channel = grpc.insecure_channel(mesh.address("gateway"))
    return channel, gateway_pb2_grpc.GridTwinStub(channel)


def _ok_keys(assessments) -> set[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return {
        (a.meter_id, a.timestamp.seconds * 1_000_000 + a.timestamp.nanos // 1000)
        for a in assessments
        if a.status.code == code_pb2.OK
    }


def wait_for_rows(repo: Repository, expected: int, timeout: float = 120.0) -> int:
    """Poll until the database holds `expected` assessments (a correctness wait, not a speed
    check: the assertion is on the content, the timeout only stops a hang)."""
    deadline = time.monotonic() + timeout
    count = repo.count()
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = repo.count()
    return count


def _bad_request(call, request) -> tuple[grpc.StatusCode, list[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=10)
    status = rpc_status.from_call(info.value)
    return info.value.code(), [v.field for v in field_violations(status)] if status else []


def test_a_killed_history_service_loses_nothing_and_stores_each_ok_assessment_once(redis_url, empty_registry):
    mesh = start_core(redis_url, empty_registry)
    channel, gateway = _gateway(mesh)
    repo = Repository(mesh.database_url)
    answered: list[assessment_pb2.Assessment] = []
    t0 = time.time() - 6 * 3600
    batches = [
        [make_reading(f"kill-{m}", t=t0 + 60 * (b * 10 + k)) for m in range(6) for k in range(10)]
        for b in range(30)
    ]
    # Invalid readings are answered with their own status and never stored.
    for batch in batches[::5]:
        batch.append(make_reading("kill-bad", t=t0, voltage_v=float("nan")))
    sent = threading.Event()

    def feed() -> None:
        for k, batch in enumerate(batches):
            answered.extend(
                gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batch), timeout=30).assessments
            )
            if k == len(batches) // 3:
                sent.set()
        # Replays of readings already assessed: answered OK (duplicate), must not be stored twice.
        replay = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batches[0]), timeout=30).assessments
        assert all(a.duplicate for a in replay if a.status.code == code_pb2.OK)
        answered.extend(replay)

    feeder = threading.Thread(target=feed)
    try:
        feeder.start()
        assert sent.wait(120)
        pending_before_kill = redis.Redis.from_url(redis_url).xpending(stream_key(mesh.redis_prefix), GROUP)
        assert mesh.stop_service("history", sig=signal.SIGKILL) == -signal.SIGKILL
        feeder.join(300)
        assert not feeder.is_alive()
        mesh.start(["history"])
        mesh.wait_healthy(["history"], timeout=120)

        expected = _ok_keys(answered)
        assert len(expected) == 30 * 60  # the bad readings were rejected, replays are the same keys
        assert ("kill-bad", int(t0) * 1_000_000) not in expected
        wait_for_rows(repo, len(expected))
        stored = repo.stored_keys()
        assert len(stored) == len(set(stored))  # once each
        assert set(stored) == expected  # every OK assessment, nothing else
        aggregated = sum(row["n"] for m in range(6) for row in repo.aggregates(f"kill-{m}", 0, 2**62))
        assert aggregated == len(expected)  # aggregates counted each reading once
        client = redis.Redis.from_url(redis_url)
        # The consumer acknowledges a batch right after its commit: the last XACK may trail the
        # rows the test just read by a moment, so wait for it (bounded).
        deadline = time.monotonic() + 10
        while (
            client.xpending(stream_key(mesh.redis_prefix), GROUP)["pending"] and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        assert client.xpending(stream_key(mesh.redis_prefix), GROUP)["pending"] == 0  # all acknowledged
        print(f"pending at the kill: {pending_before_kill['pending']}")
    finally:
        channel.close()
        repo.dispose()
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)


@pytest.fixture(scope="module")
def stored(core_mesh) -> dict[str, list[reading_pb2.Reading]]:  # type: ignore[no-untyped-def]
    """Three meters with 25, 3 and 1 readings, stored."""
    counts = {"hist-a": 25, "hist-b": 3, "other-c": 1}
    t0 = time.time() - 7200
    readings = {m: [make_reading(m, t=t0 + 60 * k) for k in range(n)] for m, n in counts.items()}
    channel, gateway = _gateway(core_mesh)
    with channel:
        batch = [r for rs in readings.values() for r in rs]
        answers = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batch), timeout=30).assessments
        assert all(a.status.code == code_pb2.OK for a in answers)
    repo = Repository(core_mesh.database_url)
    assert wait_for_rows(repo, sum(counts.values())) == sum(counts.values())
    repo.dispose()
    return readings


def test_history_pages_through_a_meter_in_time_order(core_mesh, stored):
    channel, gateway = _gateway(core_mesh)
    with channel:
        entries, token, pages = [], "", 0
        while True:
            page = gateway.History(
                gateway_pb2.HistoryRequest(
                    meter_id="hist-a", page_size=7, page_token=token, models=["voltage_anomaly"]
                ),
                timeout=10,
            )
            entries.extend(page.entries)
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert pages == 4  # 7 + 7 + 7 + 4
        assert [e.reading for e in entries] == stored["hist-a"]
        assert all(e.assessment.HasField("voltage_anomaly") for e in entries)
        assert not any(e.assessment.HasField("load_forecast") for e in entries)  # projected out
        assert all(e.stream_id for e in entries)
        # A time range: [start, end) of the 5th to the 9th reading.
        start, end = stored["hist-a"][4].timestamp, stored["hist-a"][9].timestamp
        page = gateway.History(
            gateway_pb2.HistoryRequest(meter_id="hist-a", start=start, end=end), timeout=10
        )
        assert [e.reading for e in page.entries] == stored["hist-a"][4:9]
        assert page.entries[0].assessment.HasField("load_forecast")  # no projection: all sixteen


def test_history_rejects_bad_requests_naming_the_field(core_mesh, stored):
    channel, gateway = _gateway(core_mesh)
    with channel:
        assert _bad_request(gateway.History, gateway_pb2.HistoryRequest()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            ["meter_id"],
        )
        code, fields = _bad_request(
            gateway.History, gateway_pb2.HistoryRequest(meter_id="hist-a", models=["nope"])
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["models"])
        code, fields = _bad_request(
            gateway.History, gateway_pb2.HistoryRequest(meter_id="hist-a", page_token="not-a-token")
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
        first = gateway.History(gateway_pb2.HistoryRequest(meter_id="hist-a", page_size=2), timeout=10)
        code, fields = _bad_request(
            gateway.History, gateway_pb2.HistoryRequest(meter_id="hist-b", page_token=first.next_page_token)
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
        code, fields = _bad_request(
            gateway.History, gateway_pb2.HistoryRequest(meter_id="hist-a", page_size=-1)
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_size"])


def test_list_meters_with_prefix_and_paging(core_mesh, stored):
    channel, gateway = _gateway(core_mesh)
    with channel:
        everything = gateway.ListMeters(gateway_pb2.ListMetersRequest(prefix="hist-"), timeout=10)
        assert [m.meter_id for m in everything.meters] == ["hist-a", "hist-b"]
        a, b = everything.meters
        assert (a.readings, b.readings) == (25, 3)
        assert a.last_reading == stored["hist-a"][-1]
        # Times are stored to the microsecond.
        assert a.first_seen.ToMicroseconds() == stored["hist-a"][0].timestamp.ToMicroseconds()
        assert a.last_seen.ToMicroseconds() == stored["hist-a"][-1].timestamp.ToMicroseconds()
        first = gateway.ListMeters(gateway_pb2.ListMetersRequest(prefix="hist-", page_size=1), timeout=10)
        assert [m.meter_id for m in first.meters] == ["hist-a"] and first.next_page_token
        second = gateway.ListMeters(
            gateway_pb2.ListMetersRequest(prefix="hist-", page_size=1, page_token=first.next_page_token),
            timeout=10,
        )
        assert [m.meter_id for m in second.meters] == ["hist-b"] and not second.next_page_token
        code, fields = _bad_request(
            gateway.ListMeters,
            gateway_pb2.ListMetersRequest(prefix="other", page_token=first.next_page_token),
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])


def test_subscribe_resumes_from_a_stream_position_then_goes_live(core_mesh, stored):
    channel, gateway = _gateway(core_mesh)
    with channel:
        entries = gateway.History(gateway_pb2.HistoryRequest(meter_id="hist-a"), timeout=10).entries
        position = entries[19].stream_id
        stream = gateway.Subscribe(
            gateway_pb2.SubscribeRequest(meter_ids=["hist-a"], resume_from=position), timeout=60
        )
        replayed = [next(stream) for _ in range(5)]
        assert [(a.meter_id, a.timestamp) for a in replayed] == [
            (e.reading.meter_id, e.reading.timestamp) for e in entries[20:25]
        ]
        assert [a.stream_id for a in replayed] == [e.stream_id for e in entries[20:25]]
        live = make_reading("hist-a", t=time.time() - 60)
        gateway.Assess(live, timeout=10)
        following = next(stream)
        assert (following.meter_id, following.timestamp) == ("hist-a", live.timestamp)
        assert following.stream_id > replayed[-1].stream_id or len(following.stream_id) > len(
            replayed[-1].stream_id
        )
        stream.cancel()
        code, fields = _bad_request(
            lambda r, timeout: next(gateway.Subscribe(r, timeout=timeout)),
            gateway_pb2.SubscribeRequest(resume_from="yesterday"),
        )
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["resume_from"])


def test_history_lands_in_postgresql_with_database_url(redis_url, empty_registry, postgres_url):
    mesh = start_core(redis_url, empty_registry, database_url=postgres_url)
    channel, gateway = _gateway(mesh)
    try:
        readings = [make_reading("pg-1", t=time.time() - 3600 + 60 * k) for k in range(12)]
        answers = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=readings), timeout=30).assessments
        repo = Repository(postgres_url)
        assert repo.dialect == "postgresql"
        assert wait_for_rows(repo, 12) == 12
        assert set(repo.stored_keys()) == _ok_keys(answers)
        assert repo.partitions()  # the table is partitioned by day
        page = gateway.History(gateway_pb2.HistoryRequest(meter_id="pg-1"), timeout=10)
        assert [e.reading for e in page.entries] == readings
        repo.dispose()
    finally:
        channel.close()
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)


def test_health_is_serving_only_when_the_database_answers(redis_url, empty_registry):
    """History with a PostgreSQL database that does not exist yet: alive but NOT_SERVING;
    once the database exists it creates its schema and turns SERVING."""
    import psycopg
    from grpc_health.v1 import health_pb2

    from gridtwin.mesh import health_status
    from tests.history.conftest import PG_ADMIN

    name = f"gridtwin_test_{uuid.uuid4().hex[:10]}"
    mesh = Mesh(
        redis_url=redis_url,
        redis_prefix=f"test-{uuid.uuid4().hex[:10]}:",
        registry=empty_registry,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
    )
    try:
        mesh.start(["history"])
        deadline = time.monotonic() + 60
        while health_status(mesh.address("history")) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # a few readiness rounds against the missing database
        assert mesh.procs["history"].poll() is None
        assert health_status(mesh.address("history")) == health_pb2.HealthCheckResponse.NOT_SERVING
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        mesh.wait_healthy(["history"], timeout=60)
    finally:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
