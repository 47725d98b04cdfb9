"""The mesh as it runs in production: mutual TLS between the services, bearer tokens with
roles and meter scopes at the gateway, reflection off, and /metrics on every service.

One mesh (seven real processes, real Redis) serves every test in this module.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from gridtwin.mesh import HTTP_SERVICES, ROOT, SERVICES, Mesh, sync_channel, tls_files
from gridtwin.security.certs import create_all
from gridtwin.security.roles import Role
from gridtwin.security.tokens import Keys, create_token
from gridtwin.v1 import gateway_pb2, gateway_pb2_grpc, reading_pb2, services_pb2, services_pb2_grpc
from tests.conftest import cleanup_prefix
from tests.readings import make_reading

pytestmark = pytest.mark.mesh

SECRET = "test-secret-" + "x" * 40
KEYS = Keys("HS256", SECRET, SECRET)


def token(role: Role, meters: tuple[str, ...] = (), ttl_s: int = 600, now: float | None = None) -> list:
    return [("authorization", f"Bearer {create_token(role, f'test-{role.label}', KEYS, ttl_s, meters, now)}")]


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    create_all(folder)
    return folder


@pytest.fixture(scope="module")
def secure_mesh(redis_url: str, empty_registry: Path, certs: Path) -> Iterator[Mesh]:
    mesh = Mesh(
        redis_url=redis_url,
        redis_prefix=f"test-sec-{time.time_ns()}:",
        registry=empty_registry,
        tls_dir=certs,
        extra_env={"GRIDTWIN_AUTH": "on", "GRIDTWIN_JWT_SECRET": SECRET, "GRIDTWIN_REFLECTION": "off"},
    )
    mesh.start()
    try:
        mesh.wait_healthy(timeout=180)
        yield mesh
    finally:
        mesh.stop()
        cleanup_prefix(redis_url, mesh.redis_prefix)


def public_credentials(certs: Path) -> grpc.ChannelCredentials:
    """An outside caller: trusts the CA, presents no client certificate."""
    return grpc.ssl_channel_credentials(root_certificates=(certs / "ca.crt").read_bytes())


@pytest.fixture
def gateway(secure_mesh: Mesh, certs: Path) -> Iterator[gateway_pb2_grpc.GridTwinStub]:
    with sync_channel(secure_mesh.address("gateway"), public_credentials(certs)) as channel:
        yield gateway_pb2_grpc.GridTwinStub(channel)


# ---- tokens and roles ----------------------------------------------------------------------
def test_no_token_is_unauthenticated(gateway):
    with pytest.raises(grpc.RpcError) as err:
        gateway.ListModels(services_pb2.ListModelsRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "missing bearer token" in err.value.details()


def test_expired_and_forged_tokens_are_unauthenticated(gateway):
    expired = token(Role.ADMIN, ttl_s=60, now=time.time() - 3600)
    forged_keys = Keys("HS256", "another-secret-" + "y" * 40, "another-secret-" + "y" * 40)
    forged = [("authorization", "Bearer " + create_token(Role.ADMIN, "mallory", forged_keys, 600))]
    for metadata, reason in ((expired, "expired"), (forged, "signature")):
        with pytest.raises(grpc.RpcError) as err:
            gateway.ListModels(services_pb2.ListModelsRequest(), metadata=metadata, timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert reason in err.value.details()


def test_viewer_reads_but_may_not_assess(gateway):
    catalog = gateway.ListModels(services_pb2.ListModelsRequest(), metadata=token(Role.VIEWER), timeout=10)
    assert len(catalog.models) == 16
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(make_reading("sec-viewer"), metadata=token(Role.VIEWER), timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "needs analyst" in err.value.details()


def test_acknowledging_an_alarm_needs_the_operator_role_and_the_meter_in_scope(gateway):
    assessed = gateway.Assess(make_reading("sec-ack"), metadata=token(Role.ANALYST), timeout=10)
    ack = services_pb2.AlarmAcknowledgement(
        meter_id="sec-ack",
        timestamp=assessed.timestamp,
        model="voltage_anomaly",
        verdict=services_pb2.DISMISSED,
    )
    with pytest.raises(grpc.RpcError) as analyst:
        gateway.AcknowledgeAlarm(ack, metadata=token(Role.ANALYST), timeout=10)
    assert (
        analyst.value.code() == grpc.StatusCode.PERMISSION_DENIED
        and "needs operator" in analyst.value.details()
    )
    with pytest.raises(grpc.RpcError) as scoped:
        gateway.AcknowledgeAlarm(ack, metadata=token(Role.OPERATOR, ("feeder-7-*",)), timeout=10)
    assert scoped.value.code() == grpc.StatusCode.PERMISSION_DENIED and "sec-ack" in scoped.value.details()
    bad = services_pb2.AlarmAcknowledgement(meter_id="sec-ack", model="voltage_anomaly")
    with pytest.raises(grpc.RpcError) as invalid:
        gateway.AcknowledgeAlarm(bad, metadata=token(Role.OPERATOR), timeout=10)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The operator reaches history: the empty registry's models raised no alarm to acknowledge.
    with pytest.raises(grpc.RpcError) as no_alarm:
        gateway.AcknowledgeAlarm(ack, metadata=token(Role.OPERATOR), timeout=10)
    assert no_alarm.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
    assert "history:" in no_alarm.value.details()


def test_analyst_assesses(gateway):
    assessment = gateway.Assess(make_reading("sec-analyst"), metadata=token(Role.ANALYST), timeout=10)
    assert assessment.meter_id == "sec-analyst" and assessment.status.code == 0


def test_scoped_token_may_not_assess_other_meters(gateway):
    scoped = token(Role.ANALYST, ("feeder-7-*",))
    assert gateway.Assess(make_reading("feeder-7-a"), metadata=scoped, timeout=10).meter_id == "feeder-7-a"
    batch = reading_pb2.ReadingBatch(readings=[make_reading("feeder-7-b"), make_reading("feeder-8-a")])
    with pytest.raises(grpc.RpcError) as err:
        gateway.AssessBatch(batch, metadata=scoped, timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "feeder-8-a" in err.value.details() and "feeder-7-b" not in err.value.details()


def test_a_scoped_viewer_gets_reports_of_its_meters_only(gateway, secure_mesh):
    from gridtwin.history.repository import Repository

    t0 = int(time.time()) - 3600
    batch = reading_pb2.ReadingBatch(readings=[make_reading("sec-rep-a", t=t0 + 60 * k) for k in range(5)])
    answers = gateway.AssessBatch(batch, metadata=token(Role.ANALYST), timeout=30).assessments
    assert all(a.status.code == 0 for a in answers)
    repo = Repository(secure_mesh.database_url)
    try:
        deadline = time.monotonic() + 60  # the consumer stores asynchronously (not a speed check)
        while repo.count("sec-rep-a") < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert repo.count("sec-rep-a") == 5
    finally:
        repo.dispose()
    request = gateway_pb2.ReportRequest(kind="en50160", meter_id="sec-rep-a", format="csv")
    request.start.seconds, request.end.seconds = t0 - 60, t0 + 3600
    viewer = token(Role.VIEWER, ("sec-rep-*",))
    report = gateway.Report(request, metadata=viewer, timeout=60)  # over mTLS to the history service
    assert report.media_type == "text/csv" and b"frequency_normal" in report.content
    request.meter_id = "sec-other"
    with pytest.raises(grpc.RpcError) as err:
        gateway.Report(request, metadata=viewer, timeout=60)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED and "sec-other" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        gateway.Report(request, timeout=60)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_scoped_token_cannot_subscribe_to_other_meters(gateway):
    request = gateway_pb2.SubscribeRequest(meter_ids=["feeder-7-a", "feeder-9-z"])
    stream = gateway.Subscribe(request, metadata=token(Role.VIEWER, ("feeder-7-*",)), timeout=10)
    with pytest.raises(grpc.RpcError) as err:
        next(iter(stream))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "feeder-9-z" in err.value.details()


def test_scoped_subscription_to_every_meter_sees_only_its_scope(gateway):
    """An empty meter list means "all I may see": out-of-scope assessments never arrive."""
    stream = gateway.Subscribe(
        gateway_pb2.SubscribeRequest(), metadata=token(Role.VIEWER, ("feeder-7-*",)), timeout=60
    )
    received: list[str] = []
    done = threading.Event()

    def listen() -> None:
        try:
            for assessment in stream:
                received.append(assessment.meter_id)
                if len(received) >= 3:
                    break
        finally:
            done.set()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    analyst = token(Role.ANALYST)
    rounds = 0
    while not done.is_set() and rounds < 200:
        # Out of scope first: a broken filter would deliver it before the in-scope one.
        gateway.Assess(make_reading("feeder-8-out"), metadata=analyst, timeout=10)
        gateway.Assess(make_reading("feeder-7-in"), metadata=analyst, timeout=10)
        rounds += 1
        done.wait(0.05)
    stream.cancel()
    listener.join(10)
    assert len(received) >= 3, f"subscriber saw {received} after {rounds} rounds"
    assert set(received) == {"feeder-7-in"}


def test_scoped_stream_stops_at_the_first_foreign_meter(gateway):
    readings = [make_reading("feeder-7-s1"), make_reading("feeder-7-s2"), make_reading("feeder-9-s3")]
    answered = []
    with pytest.raises(grpc.RpcError) as err:
        for assessment in gateway.AssessStream(
            iter(readings), metadata=token(Role.ANALYST, ("feeder-7-*",)), timeout=20
        ):
            answered.append(assessment.meter_id)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "feeder-9-s3" in err.value.details()
    assert answered == ["feeder-7-s1", "feeder-7-s2"]


def test_the_example_client_works_with_a_token_and_the_mesh_certificate(secure_mesh, certs):
    env = {
        **os.environ,
        **tls_files(certs, "client"),
        "GRIDTWIN_TOKEN": create_token(Role.ANALYST, "example", KEYS, 600),
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "assess.py"), secure_mesh.address("gateway")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rejected: INVALID_ARGUMENT" in result.stdout and "batch:" in result.stdout


# ---- transport security ------------------------------------------------------------------------
def test_gateway_refuses_plaintext(secure_mesh):
    with sync_channel(secure_mesh.address("gateway")) as channel, pytest.raises(grpc.RpcError) as err:
        gateway_pb2_grpc.GridTwinStub(channel).ListModels(
            services_pb2.ListModelsRequest(), metadata=token(Role.VIEWER), timeout=5
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_internal_service_refuses_callers_without_the_mesh_certificate(secure_mesh, certs, tmp_path):
    address = secure_mesh.address("features")
    request = services_pb2.FeatureSchemaRequest()

    def schema(credentials: grpc.ChannelCredentials | None) -> services_pb2.FeatureSchema:
        with sync_channel(address, credentials) as channel:
            return services_pb2_grpc.FeaturesStub(channel).GetSchema(request, timeout=5)

    # A mesh caller gets in (positive control).
    assert schema(secure_mesh.credentials()).names
    # TLS that trusts the CA but presents no certificate, a certificate from another CA, and
    # plaintext: all refused at the handshake.
    other = create_all(tmp_path / "other", ["client"])["client"]
    strangers = {
        "no client certificate": public_credentials(certs),
        "foreign CA": grpc.ssl_channel_credentials(
            root_certificates=(certs / "ca.crt").read_bytes(),
            private_key=other.key.read_bytes(),
            certificate_chain=other.cert.read_bytes(),
        ),
        "plaintext": None,
    }
    for label, credentials in strangers.items():
        with pytest.raises(grpc.RpcError) as err:
            schema(credentials)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE, label


def test_health_answers_without_a_token_and_reflection_is_off(gateway, secure_mesh):
    with secure_mesh.channel("gateway") as channel:
        status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert status.status == health_pb2.HealthCheckResponse.SERVING
        responses = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
        )
        with pytest.raises(grpc.RpcError) as err:
            list(responses)
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---- metrics -------------------------------------------------------------------------------------
def scrape(mesh: Mesh, service: str) -> str:
    """/metrics of a service: gRPC services on their metrics port (plain HTTP), the web service
    on its own HTTPS port (trusting the mesh CA)."""
    if service in HTTP_SERVICES:
        url = f"https://{mesh.address(service)}/metrics"
        context = ssl.create_default_context(cafile=mesh.ca_file())
    else:
        url, context = mesh.metrics_url(service), None
    with urllib.request.urlopen(url, timeout=5, context=context) as response:
        assert response.status == 200
        return response.read().decode()


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    """Metric family name → label sets of its samples (plus the families with no samples)."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        out.setdefault(family.name, [])
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample.labels)
    return out


# (sample name, labels it must carry) per service, after the calls made by the test below.
EXPECTED: dict[str, list[tuple[str, dict[str, str]]]] = {
    "gateway": [
        ("grpc_server_started_total", {"grpc_method": "Assess", "grpc_type": "unary"}),
        ("grpc_server_handled_total", {"grpc_method": "Assess", "grpc_code": "OK"}),
        ("grpc_server_handled_total", {"grpc_method": "Assess", "grpc_code": "PERMISSION_DENIED"}),
        ("grpc_server_handled_total", {"grpc_method": "ListModels", "grpc_code": "UNAUTHENTICATED"}),
        ("grpc_server_handled_total", {"grpc_method": "AssessStream", "grpc_type": "bidi_stream"}),
        ("grpc_server_handling_seconds_bucket", {"grpc_method": "Assess"}),
        ("gridtwin_items_total", {"grpc_method": "AssessBatch", "outcome": "invalid"}),
        ("gridtwin_items_total", {"grpc_method": "AssessBatch", "outcome": "ok"}),
        ("gridtwin_items_total", {"grpc_method": "AssessStream", "outcome": "ok"}),
        ("gridtwin_queue_depth", {"queue": "publisher"}),
        ("gridtwin_queue_depth", {"queue": "assess_stream"}),
        ("gridtwin_dropped_total", {"what": "publisher"}),
        ("gridtwin_redis_errors", {}),
    ],
    "ingest": [("grpc_server_handled_total", {"grpc_method": "Ingest", "grpc_code": "OK"})],
    "features": [
        ("grpc_server_handled_total", {"grpc_method": "Compute", "grpc_code": "OK"}),
        ("gridtwin_feature_batch_mean", {"feature": "frequency_hz"}),
    ],
    "monitoring": [("gridtwin_model_outputs_total", {"model": "voltage_anomaly", "status": "UNAVAILABLE"})],
    "maintenance": [
        ("gridtwin_model_outputs_total", {"model": "equipment_failure", "status": "UNAVAILABLE"})
    ],
    "energy": [("gridtwin_model_outputs_total", {"model": "load_forecast", "status": "UNAVAILABLE"})],
    "decision": [("gridtwin_model_outputs_total", {"model": "reactive_power", "status": "UNAVAILABLE"})],
    "history": [("grpc_server_handled_total", {"grpc_method": "ListMeters", "grpc_code": "OK"})],
    # the web service's own HTTP metrics (its readiness was probed while the mesh started)
    "web": [("gridtwin_web_requests_total", {"route": "/readyz", "status": "200"})],
}


def test_probes_answer_over_http_while_grpc_needs_the_mesh_certificate(secure_mesh):
    for service in SERVICES:
        if service in HTTP_SERVICES:  # web: its own endpoints, over HTTPS
            base = f"https://{secure_mesh.address(service)}"
            context = ssl.create_default_context(cafile=secure_mesh.ca_file())
        else:
            base, context = secure_mesh.metrics_url(service).removesuffix("/metrics"), None
        for path in ("/readyz", "/healthz"):
            with urllib.request.urlopen(base + path, timeout=5, context=context) as response:
                assert response.status == 200, (service, path)


def test_every_service_serves_its_metrics(gateway, secure_mesh):
    analyst = token(Role.ANALYST)
    bad = make_reading("sec-metrics-bad")
    bad.frequency = float("nan")
    gateway.AssessBatch(
        reading_pb2.ReadingBatch(readings=[make_reading("sec-metrics-ok"), bad]), metadata=analyst, timeout=10
    )
    list(gateway.AssessStream(iter([make_reading("sec-metrics-stream")]), metadata=analyst, timeout=10))
    with pytest.raises(grpc.RpcError):
        gateway.Assess(make_reading("sec-metrics-denied"), metadata=token(Role.VIEWER), timeout=10)
    with pytest.raises(grpc.RpcError):
        gateway.ListModels(services_pb2.ListModelsRequest(), timeout=10)
    gateway.Assess(make_reading("sec-metrics-ok2"), metadata=analyst, timeout=10)
    gateway.ListMeters(gateway_pb2.ListMetersRequest(), metadata=token(Role.VIEWER), timeout=10)  # → history

    assert set(EXPECTED) == set(SERVICES)
    for service, wanted in EXPECTED.items():
        found = samples(scrape(secure_mesh, service))
        missing = [
            (name, labels)
            for name, labels in wanted
            if name not in found
            or (labels and not any(labels.items() <= have.items() for have in found[name]))
        ]
        assert not missing, f"{service} /metrics lacks {missing}"
