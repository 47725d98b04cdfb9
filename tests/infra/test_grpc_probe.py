"""The Kubernetes exec probe (docker/grpc_probe.py) against real gRPC health servers: plaintext,
and mutual TLS as on the cluster, where a certificate from another CA must not get in."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gridtwin.mesh import free_port

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "docker" / "grpc_probe.py"

_spec = importlib.util.spec_from_file_location("testpki", ROOT / "docker" / "testpki.py")
assert _spec and _spec.loader
testpki = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(testpki)
make_pki = testpki.make_pki


def serve(port: int, status: int, pki: dict[str, Path] | None) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", status)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if pki is None:
        server.add_insecure_port(f"127.0.0.1:{port}")
    else:
        credentials = grpc.ssl_server_credentials(
            [(pki["key"].read_bytes(), pki["cert"].read_bytes())],
            root_certificates=pki["ca"].read_bytes(),
            require_client_auth=True,
        )
        server.add_secure_port(f"127.0.0.1:{port}", credentials)
    server.start()
    return server


def probe(port: int, pki: dict[str, Path] | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDTWIN_TLS_")}
    env["MONITORING_PORT"] = str(port)
    if pki is not None:
        env |= {
            "GRIDTWIN_TLS_CERT": str(pki["cert"]),
            "GRIDTWIN_TLS_KEY": str(pki["key"]),
            "GRIDTWIN_TLS_CA": str(pki["ca"]),
        }
    return subprocess.run(
        [sys.executable, str(PROBE), "monitoring"], env=env, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def port() -> Iterator[int]:
    yield free_port()


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.mark.parametrize(("status", "code"), [(SERVING, 0), (NOT_SERVING, 1)])
def test_plaintext_probe_follows_the_health_status(port: int, status: int, code: int) -> None:
    server = serve(port, status, None)
    try:
        result = probe(port, None)
    finally:
        server.stop(0)
    assert result.returncode == code, result.stderr
    if code:
        assert "NOT_SERVING" in result.stderr


def test_probe_speaks_mutual_tls_with_the_pods_certificate(port: int, tmp_path: Path) -> None:
    mesh = make_pki(tmp_path, "mesh")
    server = serve(port, SERVING, mesh)
    try:
        assert probe(port, mesh).returncode == 0
        # Plaintext against a TLS port fails, and so does a certificate of another CA.
        assert probe(port, None).returncode == 1
        stranger = probe(port, make_pki(tmp_path, "stranger"))
        assert stranger.returncode == 1 and "UNAVAILABLE" in stranger.stderr
    finally:
        server.stop(0)


def test_probe_reports_an_unreachable_server(port: int) -> None:
    result = probe(port, None)
    assert result.returncode == 1 and "UNAVAILABLE" in result.stderr
