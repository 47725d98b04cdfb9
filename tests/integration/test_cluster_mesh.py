"""The whole mesh on a real three-master Redis Cluster (`REDIS_CLUSTER_NODES`, started from
Debian's redis-server by tests/cluster_fixture.py).

* The end-to-end suite of test_mesh_e2e.py runs unchanged against a cluster-backed mesh (its
  `mesh` fixture is overridden here).
* With the quick-trained registry, readings of many meters in many hash slots go through
  `AssessBatch`: every reading is answered OK (none UNKNOWN, none lost), has its committed
  de-duplication digest and its place in the meter's rolling state, and is in history; a replay
  is a duplicate that reaches no module.
* Two feature replicas on the cluster never lose a reading of any meter.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis

from gridtwin.assets import write_assets
from gridtwin.features.state import profile_key
from gridtwin.ingest.dedup import dedup_key, reading_digest
from gridtwin.mesh import Mesh
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, gateway_pb2, gateway_pb2_grpc, reading_pb2, services_pb2_grpc
from tests.cluster_fixture import RedisClusterFixture
from tests.integration.test_mesh_e2e import (  # noqa: F401 - collected here against the cluster
    test_a_duplicate_through_the_gateway_reaches_no_model,
    test_a_released_claim_lets_the_corrected_reading_through,
    test_a_replayed_reading_is_answered_as_a_duplicate_and_a_conflicting_one_rejected,
    test_an_invalid_copy_does_not_block_the_valid_reading_with_the_same_key,
    test_assess_answers_all_sixteen_fields_with_status_and_timings,
    test_batch_reports_bad_items_and_assesses_the_valid_ones,
    test_every_service_reports_serving,
    test_list_models_reports_every_model,
    test_stream_answers_every_reading_in_order_and_survives_a_bad_one,
    test_subscribe_delivers_matching_assessments_only,
)
from tests.integration.test_mesh_models import _attach_waveform, _recent_history
from tests.readings import make_reading

pytestmark = [
    pytest.mark.mesh,
    pytest.mark.slow,
    pytest.mark.skipif(not shutil.which("redis-cli"), reason="redis-cli (Debian redis-tools) not installed"),
]

#: Models whose per-meter Redis state (in `prepare`) is not slot-aware on this branch yet: on the
#: cluster a batch of meters in several slots makes their `prepare` raise RedisClusterException
#: (multi-key calls across slots), so they answer DEGRADED. Empty it once the models' slot-aware
#: state store lands, and the test below asserts that all sixteen answer OK on the cluster.
DEADLINES = ("INGEST_DEADLINE_S", "MODULE_DEADLINE_S", "DECISION_DEADLINE_S")
#: The quick dataset's feeder meters besides the transformer (kerber_dorfnetz).
FLEET = (
    *(f"dorf-F{k}" for k in range(1, 7)),
    *(f"dorf-C{k:03d}" for k in (4, 6, 16, 17, 20, 26, 27, 29, 33, 35, 36, 39, 43, 49, 51, 54)),
)


@pytest.fixture(scope="module")
def cluster_seeds() -> Iterator[str]:
    with RedisClusterFixture() as seeds:
        yield seeds


def _cluster_client(seeds: str) -> redis.RedisCluster:
    host, _, port = seeds.split(",")[0].rpartition(":")
    return redis.RedisCluster(host=host, port=int(port))


def _start(seeds: str, registry: Path, **env: str) -> Mesh:
    mesh = Mesh(
        redis_cluster_nodes=seeds,
        redis_prefix=f"test-{uuid.uuid4().hex[:10]}:",
        registry=registry,
        extra_env=env,
    )
    mesh.start()
    try:
        mesh.wait_healthy(timeout=180)
    except Exception:
        mesh.stop()
        raise
    return mesh


@pytest.fixture(scope="module")
def mesh(cluster_seeds: str, empty_registry: Path) -> Iterator[Mesh]:
    """The end-to-end suite's mesh (empty registry), on the cluster."""
    m = _start(cluster_seeds, empty_registry)
    try:
        yield m
    finally:
        m.stop()


@pytest.fixture(scope="module")
def trained_cluster_mesh(cluster_seeds: str, request: pytest.FixtureRequest) -> Iterator[Mesh]:
    given = os.environ.get("GRIDTWIN_TEST_REGISTRY")
    registry = Path(given) if given else request.getfixturevalue("quick_registry")
    # Deadlines far above a loaded machine's latency: what is tested is the cluster, and a
    # module cut off at its deadline would hide whether its Redis calls worked.
    m = _start(cluster_seeds, registry, **{k: "30" for k in DEADLINES})
    try:
        yield m
    finally:
        m.stop()


def _fleet_readings() -> list[reading_pb2.Reading]:
    """The transformer meter's last three days every 5 min (the feeder-level models need that
    history) and the last 6 h of every other meter of the feeder (feeder heads and customers),
    in time order: batches mix meters of many hash slots."""
    readings = _recent_history("dorf-TR", every_minutes=5)
    _attach_waveform(readings[-1], fifth_pct=4.0)
    cutoff = readings[-1].timestamp.seconds - 6 * 3600
    for meter in FLEET:
        readings += [r for r in _recent_history(meter, every_minutes=15) if r.timestamp.seconds > cutoff]
    readings.sort(key=lambda r: (r.timestamp.seconds, r.meter_id))
    return readings


def _history(gateway, meter: str) -> list[reading_pb2.Reading]:
    out, token = [], ""
    while True:
        page = gateway.History(
            gateway_pb2.HistoryRequest(
                meter_id=meter, models=["voltage_anomaly"], page_token=token, page_size=5000
            ),
            timeout=30,
        )
        out.extend(e.reading for e in page.entries)
        token = page.next_page_token
        if not token:
            return out


def _wait_for_history(gateway, want: dict[str, list[reading_pb2.Reading]], limit_s: float = 120.0) -> dict:
    """Each meter's stored readings once all of `want` is there (or what is there at the limit):
    history consumes the stream asynchronously."""
    deadline = time.monotonic() + limit_s
    while True:
        got = {meter: _history(gateway, meter) for meter in want}
        complete = all(
            {(r.timestamp.seconds, r.timestamp.nanos) for r in readings}
            <= {(r.timestamp.seconds, r.timestamp.nanos) for r in got[meter]}
            for meter, readings in want.items()
        )
        if complete or time.monotonic() > deadline:
            return got
        time.sleep(1.0)


@pytest.fixture(scope="module")
def fleet_answers(trained_cluster_mesh: Mesh, cluster_seeds: str):
    """The fleet's readings sent through AssessBatch on the cluster, with their answers."""
    from gridsim.assets import simulated_assets

    client = _cluster_client(cluster_seeds)
    write_assets(client, trained_cluster_mesh.redis_prefix, simulated_assets())
    readings = _fleet_readings()
    answers: list[assessment_pb2.Assessment] = []
    with grpc.insecure_channel(trained_cluster_mesh.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        for k in range(0, len(readings), 200):
            chunk = reading_pb2.ReadingBatch(readings=readings[k : k + 200])
            answers.extend(stub.AssessBatch(chunk, timeout=180).assessments)
    client.close()
    return readings, answers


def test_every_reading_of_many_slots_is_answered_ok_and_in_state_and_history(
    trained_cluster_mesh: Mesh, cluster_seeds: str, fleet_answers
):
    readings, answers = fleet_answers
    assert len(answers) == len(readings) and len({r.meter_id for r in readings}) == 1 + len(FLEET)
    bad = [(a.meter_id, a.status.code, a.status.message) for a in answers if a.status.code != 0]
    assert not bad, bad[:5]
    assert not any(a.duplicate for a in answers)
    assert [(a.meter_id, a.timestamp.seconds) for a in answers] == [
        (r.meter_id, r.timestamp.seconds) for r in readings
    ]
    # Every module answered (a module whose Redis calls failed would be UNAVAILABLE/DEGRADED).
    module_status = {(m.module, m.status) for a in answers for m in a.modules}
    assert all(status == assessment_pb2.OK for _, status in module_status), module_status
    prefix = trained_cluster_mesh.redis_prefix
    client = _cluster_client(cluster_seeds)
    try:
        missing = [r for r in readings if client.get(dedup_key(prefix, r)) != reading_digest(r)]
        assert not missing, f"{len(missing)} readings answered OK have no committed digest"
        per_meter: dict[str, list[reading_pb2.Reading]] = {}
        for r in readings:
            per_meter.setdefault(r.meter_id, []).append(r)
        for meter, mine in per_meter.items():
            assert int(client.hget(profile_key(prefix, meter), "readings")) == len(mine), meter
    finally:
        client.close()
    with grpc.insecure_channel(trained_cluster_mesh.address("gateway")) as channel:
        gateway = gateway_pb2_grpc.GridTwinStub(channel)
        stored = _wait_for_history(gateway, per_meter)
        for meter, mine in per_meter.items():
            got = {(r.timestamp.seconds, r.timestamp.nanos): r for r in stored[meter]}
            absent = [r for r in mine if (r.timestamp.seconds, r.timestamp.nanos) not in got]
            assert not absent, (
                f"{meter}: {len(absent)} of {len(mine)} readings answered OK are not in history"
            )
            assert all(got[(r.timestamp.seconds, r.timestamp.nanos)] == r for r in mine)
        # A replay of a whole batch: duplicates, answered OK, reaching no module.
        again = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=readings[-50:]), timeout=60)
        assert all(a.status.code == 0 and a.duplicate and not a.modules for a in again.assessments)


def test_every_model_answers_ok_on_the_cluster(fleet_answers):
    """The transformer meter's latest assessment: all sixteen models OK on the cluster, as on a
    single Redis (test_mesh_models.py): every model's own per-meter state is slot-aware."""
    readings, answers = fleet_answers
    last = next(a for a in reversed(answers) if a.meter_id == "dorf-TR")
    not_ok = {
        name: f"{assessment_pb2.ModelStatus.Name(getattr(last, name).info.status)}: {getattr(last, name).info.detail}"
        for name in MODEL_MODULE
        if getattr(last, name).info.status != assessment_pb2.OK
    }
    assert not not_ok, not_ok


def test_two_feature_replicas_on_the_cluster_never_lose_a_reading(cluster_seeds: str):
    """Two features processes on the cluster, four callers: batches of one shared meter and
    eleven others (many hash slots); every meter's reading count is exact."""
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    replicas = [Mesh(redis_cluster_nodes=cluster_seeds, redis_prefix=prefix) for _ in range(2)]
    for replica in replicas:
        replica.start(["features"])
    for replica in replicas:
        replica.wait_healthy(["features"], timeout=60)
    meters = ["shared-meter", *(f"rep-{m:02d}" for m in range(11))]
    t0 = time.time() - 5000
    per_thread, threads = 30, 4
    errors: list[BaseException] = []

    def send(k: int) -> None:
        try:
            with grpc.insecure_channel(replicas[k % 2].address("features")) as channel:
                stub = services_pb2_grpc.FeaturesStub(channel)
                for i in range(per_thread):
                    batch = [make_reading(m, t=t0 + k * per_thread + i) for m in meters]
                    stub.Compute(reading_pb2.ReadingBatch(readings=batch), timeout=10)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    try:
        workers = [threading.Thread(target=send, args=(k,)) for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors[:1]
        client = _cluster_client(cluster_seeds)
        counts = {m: int(client.hget(profile_key(prefix, m), "readings") or 0) for m in meters}
        client.close()
        assert counts == {m: per_thread * threads for m in meters}
    finally:
        for replica in replicas:
            replica.stop()
