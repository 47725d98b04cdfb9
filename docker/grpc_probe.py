"""Kubernetes readiness/startup probe: the grpc.health.v1 status of the service in this pod.

Kubernetes' native `grpc:` probes speak plaintext only, and with GRIDTWIN_TLS_* set every
gridtwin port speaks TLS (internal ones mutual TLS), so the probe is an exec of this script
inside the container: it calls Health.Check("") on 127.0.0.1:<SERVICE>_PORT with the pod's own
certificate when TLS is configured (the mesh certificate must name `localhost`, as the ones of
`make certs` do; GRIDTWIN_PROBE_TLS_NAME overrides the name checked), plaintext otherwise.

Usage: python /app/grpc_probe.py SERVICE [--timeout S]
Exit 0 when SERVING; 1 when NOT_SERVING, unknown or unreachable (the reason on stderr).
Only grpcio and grpcio-health-checking: it must not import the service's code (fast start).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

DEFAULT_PORTS = {
    "gateway": 50051,
    "ingest": 50052,
    "features": 50053,
    "monitoring": 50054,
    "maintenance": 50055,
    "energy": 50056,
    "decision": 50057,
    "history": 50058,
}


def _read(var: str) -> bytes | None:
    path = os.environ.get(var, "").strip()
    return Path(path).read_bytes() if path else None


def channel(address: str) -> grpc.Channel:
    """A channel to this pod's server: mutual TLS with the pod's identity, TLS, or plaintext."""
    cert, key, ca = _read("GRIDTWIN_TLS_CERT"), _read("GRIDTWIN_TLS_KEY"), _read("GRIDTWIN_TLS_CA")
    if cert is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
    name = os.environ.get("GRIDTWIN_PROBE_TLS_NAME", "localhost")
    return grpc.secure_channel(address, credentials, options=[("grpc.ssl_target_name_override", name)])


def check(service: str, timeout_s: float) -> tuple[bool, str]:
    port = int(os.environ.get(f"{service.upper()}_PORT") or DEFAULT_PORTS[service])
    try:
        with channel(f"127.0.0.1:{port}") as ch:
            reply = health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
    except grpc.RpcError as err:
        return False, f"{service} :{port}: {err.code().name} {err.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{service} :{port}: {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="grpc.health.v1 probe of this pod's service")
    parser.add_argument("service", choices=sorted(DEFAULT_PORTS))
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds")
    args = parser.parse_args(argv)
    ok, message = check(args.service, args.timeout)
    if not ok:
        print(message, file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
