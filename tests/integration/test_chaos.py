"""Chaos: real processes, a private redis-server on a free port, failures injected with
signals (and, for a lost answer, a gRPC proxy in front of features). What must hold (issue
11): errors are UNAVAILABLE (never UNKNOWN with exception text), service returns within 5 s of
Redis coming back, no reading answered OK is missing from the meter's state or from history
afterwards, claims of unprocessed readings never block their retry, a reading whose feature
answer was lost is assessed on retry (not answered as a duplicate), cancelled and slow clients
do not hurt others, SIGTERM loses no call in flight."""

from __future__ import annotations

import queue
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest
import redis
from google.rpc import code_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gridtwin.features.state import profile_key
from gridtwin.ingest.dedup import APPLIED_MARK, dedup_key, reading_digest
from gridtwin.mesh import LocalRedis, Mesh
from gridtwin.v1 import assessment_pb2, gateway_pb2, gateway_pb2_grpc, reading_pb2
from tests.conftest import start_mesh
from tests.readings import make_reading

pytestmark = [pytest.mark.mesh, pytest.mark.slow]

RECOVERY_LIMIT_S = 5.0


@pytest.fixture
def durable_redis() -> Iterator[LocalRedis]:
    """A private Redis that survives SIGKILL with what it acknowledged (AOF, fsync always)."""
    data = tempfile.mkdtemp(prefix="gridtwin-chaos-redis-")
    local = LocalRedis(args=["--appendonly", "yes", "--appendfsync", "always", "--dir", data]).start()
    yield local
    local.kill()


@dataclass
class Answers:
    """What a client got back, reading by reading."""

    ok: list[reading_pb2.Reading] = field(default_factory=list)
    failed: list[tuple[reading_pb2.Reading, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, reading: reading_pb2.Reading, status_code: int, message: str) -> None:
        with self.lock:
            if status_code == code_pb2.OK:
                self.ok.append(reading)
            else:
                self.failed.append((reading, status_code, message))


def _stream(gateway, readings: Iterator[reading_pb2.Reading], answers: Answers) -> None:
    sent: queue.SimpleQueue[reading_pb2.Reading] = queue.SimpleQueue()

    def feed() -> Iterator[reading_pb2.Reading]:
        for reading in readings:
            sent.put(reading)
            yield reading

    for assessment in gateway.AssessStream(feed(), timeout=120):
        reading = sent.get()
        assert (reading.meter_id, reading.timestamp.seconds) == (
            assessment.meter_id,
            assessment.timestamp.seconds,
        )
        answers.record(reading, assessment.status.code, assessment.status.message)


def _paced(meters: list[str], stop: threading.Event, period_s: float = 0.02) -> Iterator[reading_pb2.Reading]:
    t0 = time.time() - 50_000
    i = 0
    while not stop.is_set():
        yield make_reading(meters[i % len(meters)], t=t0 + i)
        i += 1
        time.sleep(period_s)


def _assert_in_state(redis_url: str, prefix: str, ok: list[reading_pb2.Reading]) -> None:
    """Every reading answered OK is in the meter's state: its committed de-duplication digest,
    and the meter's rolling-state reading count covers all of them."""
    client = redis.Redis.from_url(redis_url)
    marks = [client.get(dedup_key(prefix, r)) for r in ok]
    missing = [
        r
        for r, m in zip(ok, marks, strict=True)
        if m not in (reading_digest(r), APPLIED_MARK + reading_digest(r))
    ]
    assert not missing, f"{len(missing)} readings answered OK have no committed digest"
    per_meter: dict[str, int] = {}
    for r in ok:
        per_meter[r.meter_id] = per_meter.get(r.meter_id, 0) + 1
    for meter, count in per_meter.items():
        profile = client.hgetall(profile_key(prefix, meter))
        assert int(profile.get(b"readings", 0)) >= count, (meter, profile, count)


def _sanitised(failures: list[tuple[reading_pb2.Reading, int, str]], allowed: set[int]) -> None:
    codes = {code for _, code, _ in failures}
    assert codes <= allowed, {code_pb2.Code.Name(c) for c in codes}
    for _, _, message in failures:
        assert "<class" not in message and "Error" not in message and "Traceback" not in message, message


def _poll_until_ok(gateway, meter: str, limit_s: float) -> float | None:
    """Seconds until an Assess answers OK (None if not within `limit_s`)."""
    started = time.monotonic()
    t = time.time() - 40_000
    while time.monotonic() - started < limit_s:
        try:
            if gateway.Assess(make_reading(meter, t=t), timeout=2).status.code == code_pb2.OK:
                return time.monotonic() - started
        except grpc.RpcError as exc:
            assert exc.code() != grpc.StatusCode.UNKNOWN, exc.details()
        t += 1
        time.sleep(0.05)
    return None


def test_redis_killed_and_restarted_mid_stream(durable_redis, empty_registry):
    mesh = start_mesh(durable_redis.url, empty_registry)
    stop = threading.Event()
    answers = Answers()
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            worker = threading.Thread(
                target=_stream, args=(gateway, _paced(["chaos-r1", "chaos-r2", "chaos-r3"], stop), answers)
            )
            worker.start()
            while len(answers.ok) < 30:
                time.sleep(0.05)
            durable_redis.kill()
            while len(answers.failed) < 5:  # the outage is seen by the stream
                time.sleep(0.05)
            durable_redis.start()
            recovery_s = _poll_until_ok(gateway, "chaos-probe", limit_s=RECOVERY_LIMIT_S + 5)
            ok_before = len(answers.ok)
            while len(answers.ok) < ok_before + 20:  # the stream itself is served again
                time.sleep(0.05)
            stop.set()
            worker.join(30)
        assert recovery_s is not None and recovery_s <= RECOVERY_LIMIT_S, recovery_s
        _sanitised(answers.failed, {code_pb2.UNAVAILABLE, code_pb2.RESOURCE_EXHAUSTED})
        _assert_in_state(durable_redis.url, mesh.redis_prefix, answers.ok)
        # Readiness is re-evaluated periodically: it turns SERVING again within seconds.
        deadline = time.monotonic() + 15
        while (health := _health(mesh.address("ingest"))) != health_pb2.HealthCheckResponse.SERVING:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert health == health_pb2.HealthCheckResponse.SERVING
        print(f"recovery after the Redis restart: {recovery_s:.2f} s")  # noqa: T201 - shown with -s
    finally:
        stop.set()
        mesh.stop()


def _health(address: str, service: str = "") -> int | None:
    with grpc.insecure_channel(address) as channel:
        try:
            return (
                health_pb2_grpc.HealthStub(channel)
                .Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                .status
            )
        except grpc.RpcError:
            return None


def test_a_full_redis_is_resource_exhausted_not_ready_and_recovers(empty_registry):
    local = LocalRedis(args=["--maxmemory-policy", "noeviction"]).start()
    mesh = start_mesh(local.url, empty_registry)
    client = redis.Redis.from_url(local.url)
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            assert gateway.Assess(make_reading("full-m"), timeout=10).status.code == code_pb2.OK
            # Fill 4 MB, then cap maxmemory 1 MB below what is used: full by a clear margin
            # (expiring keys cannot bring it back under the limit by themselves).
            filler = 64
            for i in range(filler):
                client.set(f"filler:{i}", b"x" * 65536)
            used = int(client.info("memory")["used_memory"])
            client.config_set("maxmemory", used - 1024 * 1024)
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                client.set("one-more", b"x")
            with pytest.raises(grpc.RpcError) as err:
                gateway.Assess(make_reading("full-m"), timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "redis memory is full" in err.value.details()
            assert _wait_health(mesh.address("ingest"), health_pb2.HealthCheckResponse.NOT_SERVING)
            assert _wait_health(mesh.address("gateway"), health_pb2.HealthCheckResponse.NOT_SERVING)
            # Liveness does not depend on Redis: nothing restarts a replica for it.
            assert _health(mesh.address("gateway"), "liveness") == health_pb2.HealthCheckResponse.SERVING
            assert _health(mesh.address("monitoring"), "liveness") == health_pb2.HealthCheckResponse.SERVING
            client.delete(*[f"filler:{i}" for i in range(filler)])  # memory frees
            assert _wait_health(mesh.address("ingest"), health_pb2.HealthCheckResponse.SERVING)
            assert gateway.Assess(make_reading("full-m"), timeout=10).status.code == code_pb2.OK
    finally:
        mesh.stop()
        local.stop()


def _wait_health(address: str, want: int, limit_s: float = 15.0) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if _health(address) == want:
            return True
        time.sleep(0.2)
    return False


def test_features_killed_mid_batch_blocks_no_retry(durable_redis, empty_registry):
    mesh = start_mesh(durable_redis.url, empty_registry)
    t0 = time.time() - 60_000
    batches = [
        [make_reading(f"fk-{m}", t=t0 + k * 10 + m) for m in range(50)] for k in range(40)
    ]  # 40 batches of 50 meters
    answers = Answers()
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)

            def send_all() -> None:
                for batch in batches:
                    result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batch), timeout=20)
                    for reading, a in zip(batch, result.assessments, strict=True):
                        answers.record(reading, a.status.code, a.status.message)

            worker = threading.Thread(target=send_all)
            worker.start()
            while len(answers.ok) < 100:
                time.sleep(0.01)
            mesh.stop_service("features", sig=signal.SIGKILL)
            time.sleep(0.5)
            mesh.start(["features"])
            mesh.wait_healthy(["features"], timeout=60)
            worker.join(120)
            _sanitised(answers.failed, {code_pb2.UNAVAILABLE, code_pb2.DEADLINE_EXCEEDED})
            assert answers.failed, "the kill was not seen (no batch in flight)"
            # Every failed reading goes through on retry: its claim was released, not left PENDING.
            # Ingest's channel may still be in its reconnect backoff (≤ 2 s) when features is back:
            # a client retries UNAVAILABLE; the service must take them again within seconds.
            failed = [r for r, _, _ in answers.failed]
            retry = failed
            deadline = time.monotonic() + 10
            while True:
                result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=retry), timeout=30)
                codes = [a.status.code for a in result.assessments]
                if codes == [code_pb2.OK] * len(retry) or time.monotonic() > deadline:
                    break
                assert set(codes) <= {code_pb2.OK, code_pb2.UNAVAILABLE}, codes
                retry = [r for r, c in zip(retry, codes, strict=True) if c != code_pb2.OK]
                time.sleep(0.5)
            assert codes == [code_pb2.OK] * len(retry), {code_pb2.Code.Name(c) for c in codes}
            assert not any(a.duplicate for a in result.assessments)
            _assert_in_state(durable_redis.url, mesh.redis_prefix, answers.ok + failed)
    finally:
        mesh.stop()


def test_a_module_killed_under_load_degrades_answers_and_comes_back(redis_url, empty_registry):
    mesh = start_mesh(redis_url, empty_registry)
    stop = threading.Event()
    answers: list[assessment_pb2.Assessment] = []
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)

            def run() -> None:
                for a in gateway.AssessStream(_paced(["mk-1", "mk-2"], stop, 0.005), timeout=120):
                    answers.append(a)

            worker = threading.Thread(target=run)
            worker.start()
            while len(answers) < 50:
                time.sleep(0.02)
            mesh.stop_service("monitoring", sig=signal.SIGKILL)
            while not any(_module(a, "monitoring") == assessment_pb2.UNAVAILABLE for a in answers[50:]):
                time.sleep(0.02)
            mesh.start(["monitoring"])
            mesh.wait_healthy(["monitoring"], timeout=60)
            mark = len(answers)
            while not any(_module(a, "monitoring") == assessment_pb2.OK for a in answers[mark:]):
                time.sleep(0.02)
            stop.set()
            worker.join(30)
        assert all(a.status.code == code_pb2.OK for a in answers), {a.status.message for a in answers}
        assert all(_module(a, "energy") == assessment_pb2.OK for a in answers)
    finally:
        stop.set()
        mesh.stop()
        from tests.conftest import cleanup_prefix

        cleanup_prefix(redis_url, mesh.redis_prefix)


def _module(assessment: assessment_pb2.Assessment, name: str) -> int:
    return next(m.status for m in assessment.modules if m.module == name)


def test_clients_cancelling_mid_stream_leave_no_stream_slot_behind(redis_url, empty_registry):
    mesh = start_mesh(redis_url, empty_registry, GRIDTWIN_MAX_STREAMS="3")
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            for k in range(12):  # 4x the stream limit: a leaked slot would shed the later ones
                stop = threading.Event()
                call = gateway.AssessStream(_paced([f"cancel-{k}"], stop, 0.005), timeout=60)
                got = [next(call) for _ in range(5)]
                assert all(a.status.code == code_pb2.OK for a in got)
                call.cancel()
                stop.set()
            # Shedding works (the limit is real) and the mesh still answers.
            holders = []
            for k in range(3):
                stop = threading.Event()
                call = gateway.AssessStream(_paced([f"hold-{k}"], stop, 0.05), timeout=60)
                next(call)
                holders.append((call, stop))
            shed = gateway.AssessStream(_paced(["shed"], threading.Event(), 0.05), timeout=10)
            with pytest.raises(grpc.RpcError) as err:
                next(shed)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert dict(err.value.trailing_metadata()).get("retry-after-ms")
            for call, stop in holders:
                call.cancel()
                stop.set()
            assert gateway.Assess(make_reading("after-cancel"), timeout=10).status.code == code_pb2.OK
    finally:
        mesh.stop()
        from tests.conftest import cleanup_prefix

        cleanup_prefix(redis_url, mesh.redis_prefix)


def test_one_slow_subscriber_does_not_hold_back_the_others(redis_url, empty_registry):
    mesh = start_mesh(redis_url, empty_registry)
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            request = gateway_pb2.SubscribeRequest(meter_ids=["sub-load"])
            slow = gateway.Subscribe(request)
            fast = gateway.Subscribe(request)
            fast_got: queue.SimpleQueue[assessment_pb2.Assessment] = queue.SimpleQueue()

            def consume_fast() -> None:
                try:
                    for a in fast:
                        fast_got.put(a)
                except grpc.RpcError:
                    pass

            threading.Thread(target=consume_fast, daemon=True).start()
            time.sleep(0.5)  # both subscriptions reach Redis
            t0 = time.time() - 30_000
            n = 300
            readings = [make_reading("sub-load", t=t0 + i) for i in range(n)]
            for start in range(0, n, 100):
                gateway.AssessBatch(
                    reading_pb2.ReadingBatch(readings=readings[start : start + 100]), timeout=20
                )
            # The slow subscriber never reads; the fast one still gets every assessment.
            got = [fast_got.get(timeout=20) for _ in range(n)]
            assert sorted(a.timestamp.seconds for a in got) == sorted(r.timestamp.seconds for r in readings)
            assert gateway.Assess(make_reading("sub-other"), timeout=10).status.code == code_pb2.OK
            slow.cancel()
            fast.cancel()
    finally:
        mesh.stop()
        from tests.conftest import cleanup_prefix

        cleanup_prefix(redis_url, mesh.redis_prefix)


def test_sigterm_with_calls_in_flight_loses_none(redis_url, empty_registry):
    mesh = start_mesh(redis_url, empty_registry, MODULE_DEADLINE_S="8", SHUTDOWN_GRACE_S="10")
    energy = mesh.procs["energy"]
    results: list[object] = []
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            gateway.Assess(make_reading("term-warm"), timeout=10)
            energy.send_signal(signal.SIGSTOP)  # holds every call in the gateway, in flight
            t0 = time.time() - 20_000

            def call(k: int) -> None:
                batch = [make_reading(f"term-{k}", t=t0 + i) for i in range(20)]
                try:
                    out = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batch), timeout=30)
                    results.append([a.status.code for a in out.assessments])
                except grpc.RpcError as exc:
                    results.append(exc)

            workers = [threading.Thread(target=call, args=(k,)) for k in range(4)]
            for w in workers:
                w.start()
            _wait_for_inflight(mesh)
            mesh.procs["gateway"].send_signal(signal.SIGTERM)
            time.sleep(0.5)
            energy.send_signal(signal.SIGCONT)
            for w in workers:
                w.join(30)
            assert mesh.procs["gateway"].wait(20) == 0
        assert len(results) == 4
        assert all(isinstance(r, list) and r == [code_pb2.OK] * 20 for r in results), results
    finally:
        energy.send_signal(signal.SIGCONT)
        mesh.stop()
        from tests.conftest import cleanup_prefix

        cleanup_prefix(redis_url, mesh.redis_prefix)


def _wait_for_inflight(mesh: Mesh, limit_s: float = 10.0) -> None:
    """Until every batch passed ingest (their readings are in Redis): the calls are in flight."""
    client = redis.Redis.from_url(mesh.redis_url)
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if sum(1 for _ in client.scan_iter(f"{mesh.redis_prefix}dd:{{term-*", count=1000)) >= 80:
            return
        time.sleep(0.05)
    raise AssertionError("calls did not reach the modules")


class LosingFeaturesProxy:
    """A gRPC proxy in front of features that forwards every Compute call (so the feature
    script runs and the readings enter the rolling state) and then, while armed, loses the
    answer: ingest sees UNAVAILABLE, as when features dies or the connection drops after the
    script. Bytes pass through unparsed."""

    def __init__(self) -> None:
        from concurrent import futures

        self.target: str | None = None
        self.lose_every = 0  # lose the answer of every k-th call (0: pass everything)
        self.calls = 0
        self.lost = 0
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(self._compute)
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("gridtwin.v1.Features", {"Compute": handler})]
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self._channel: grpc.Channel | None = None

    def _compute(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.target)
        answer = self._channel.unary_unary("/gridtwin.v1.Features/Compute")(request, timeout=10)
        with self.lock:
            self.calls += 1
            lose = self.lose_every and self.calls % self.lose_every == 1
            self.lost += bool(lose)
        if lose:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost (chaos proxy)")
        return answer

    def stop(self) -> None:
        self.server.stop(0)
        if self._channel is not None:
            self._channel.close()


def _history_keys(gateway, meters: list[str]) -> set[tuple[str, int]]:
    found = set()
    for meter in meters:
        page = gateway.History(gateway_pb2.HistoryRequest(meter_id=meter, page_size=5000), timeout=10)
        found |= {(e.reading.meter_id, e.reading.timestamp.seconds) for e in page.entries}
    return found


def test_a_lost_feature_answer_is_assessed_on_retry_and_reaches_history(redis_url, empty_registry):
    proxy = LosingFeaturesProxy()
    mesh = start_mesh(redis_url, empty_registry, FEATURES_ADDR=f"127.0.0.1:{proxy.port}")
    proxy.target = mesh.address("features")
    meters = [f"lost-{m}" for m in range(5)]
    t0 = int(time.time()) - 30_000
    batches = [[make_reading(m, t=t0 + 60 * k) for m in meters] for k in range(8)]
    client = redis.Redis.from_url(redis_url)
    answered_ok: list[reading_pb2.Reading] = []
    try:
        with grpc.insecure_channel(mesh.address("gateway")) as channel:
            gateway = gateway_pb2_grpc.GridTwinStub(channel)
            proxy.lose_every = 2  # the 1st, 3rd, 5th, ... answer is lost after the script ran
            failed: list[reading_pb2.Reading] = []
            for batch in batches:
                result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=batch), timeout=20)
                for reading, a in zip(batch, result.assessments, strict=True):
                    if a.status.code == code_pb2.OK:
                        assert not a.duplicate
                        answered_ok.append(reading)
                    else:
                        assert a.status.code == code_pb2.UNAVAILABLE, a.status.message
                        failed.append(reading)
            assert proxy.lost == 4 and len(failed) == 20, (proxy.lost, len(failed))
            # The fault was in between: the failed readings are in the rolling state (applied).
            marks = [client.get(dedup_key(mesh.redis_prefix, r)) for r in failed]
            assert marks == [APPLIED_MARK + reading_digest(r) for r in failed]

            proxy.lose_every = 0
            result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=failed), timeout=20)
            assert [a.status.code for a in result.assessments] == [code_pb2.OK] * len(failed)
            # Assessed, not answered as duplicates: each went through the four modules.
            assert not any(a.duplicate for a in result.assessments)
            assert all(len(a.modules) == 4 for a in result.assessments)
            answered_ok += failed
            # A replay of everything now is a duplicate: no model sees any reading twice.
            every = [r for batch in batches for r in batch]
            replay = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=every), timeout=20)
            assert all(a.status.code == code_pb2.OK and a.duplicate for a in replay.assessments)

            want = {(r.meter_id, r.timestamp.seconds) for r in answered_ok}
            deadline = time.monotonic() + 60  # the history consumer is asynchronous
            while not want <= (found := _history_keys(gateway, meters)) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert want <= found, f"{len(want - found)} readings answered OK are missing from history"
        _assert_in_state(redis_url, mesh.redis_prefix, answered_ok)
        for meter in meters:  # each reading entered the rolling state once, retries included
            assert int(client.hget(profile_key(mesh.redis_prefix, meter), "readings")) == len(batches)
    finally:
        mesh.stop()
        proxy.stop()
        from tests.conftest import cleanup_prefix

        cleanup_prefix(redis_url, mesh.redis_prefix)
