"""Run every gridtwin service from the image and check it: the smoke test of `make image-test`.

What it does, with real processes only:
1. a private `redis-server` on a free loopback port, locked down with the ACL users of
   k8s/redis/users.acl.template (default user off, user `gridtwin` limited to the key prefix);
2. one container per service of the image's own gridtwin.mesh.ENTRY_POINTS (so history and
   web join once they exist), host networking on free ports, the same hardening as on
   Kubernetes: read-only root filesystem, tmpfs /tmp and /app/var, uid 10001, no capabilities,
   no-new-privileges, REDIS_URL with the ACL user's password, and mutual TLS with a throw-away
   mesh certificate mounted at /etc/gridtwin/tls when the image's code supports TLS;
3. waits until every gRPC service reports SERVING (grpc.health.v1), runs the Kubernetes exec
   probe (/app/grpc_probe.py) inside each container, checks /metrics where the image serves it;
4. one `Assess` through the gateway must answer OK with the four modules OK and a status for
   each of the 16 models, ListModels must report none of the 16 loaded (the image carries no
   registry: every model answers UNAVAILABLE, its honest default) or, with --models (an
   image from `make image-models`), all 16 loaded; and a bad reading must come back
   INVALID_ARGUMENT;
5. the services' keys are in Redis under the prefix, and the ACL user cannot touch others;
6. removes the containers and stops Redis, whatever happened.

Usage: python docker/image_smoke.py --image gridtwin:image-test [--models]
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from string import Template

import grpc
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gridtwin.mesh import free_port
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc, reading_pb2, services_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docker"))
from testpki import make_pki  # noqa: E402  (a sibling script, not a package)

TLS_DIR = "/etc/gridtwin/tls"
ACL_TEMPLATE = ROOT / "k8s" / "redis" / "users.acl.template"
READY_TIMEOUT_S = 240.0
SERVING = 1  # grpc.health.v1.HealthCheckResponse.SERVING


def log(message: str) -> None:
    print(f"[image-test] {message}", flush=True)


def docker(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], check=check, capture_output=capture, text=True)


class PrivateRedis:
    """redis-server on a free loopback port with the manifests' ACL users."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gridtwin-image-test-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        server = shutil.which("redis-server")
        if server is None:
            raise SystemExit("redis-server is needed (apt-get install redis-server)")
        acl = self.dir / "users.acl"
        acl.write_text(Template(ACL_TEMPLATE.read_text()).substitute(REDIS_PASSWORD=self.password))
        acl.chmod(0o600)
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--protected-mode", "yes", "--aclfile", str(acl), "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def url(self, user: str = "gridtwin") -> str:
        return f"redis://{user}:{self.password}@127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url(), socket_connect_timeout=1)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def image_entry_points(image: str) -> dict[str, str]:
    code = "import json; from gridtwin.mesh import ENTRY_POINTS; print(json.dumps(ENTRY_POINTS))"
    out = docker("run", "--rm", "--network", "none", "--read-only", image, "python", "-c", code).stdout
    return json.loads(out.strip().splitlines()[-1])


def image_has(image: str, path: str) -> bool:
    code = f"import os, sys; sys.exit(0 if os.path.exists({path!r}) else 1)"
    return (
        docker("run", "--rm", "--network", "none", image, "python", "-c", code, check=False).returncode == 0
    )


def reading(meter_id: str, frequency_hz: float = 50.01) -> reading_pb2.Reading:
    r = reading_pb2.Reading(
        meter_id=meter_id, frequency=frequency_hz, nominal_voltage=230, nominal_frequency=50
    )
    r.timestamp.GetCurrentTime()
    r.voltage.a, r.voltage.b, r.voltage.c = 231.0, 229.0, 233.0  # V
    r.current.a, r.current.b, r.current.c = 12.0, 10.5, 11.2  # A
    r.active_power.a, r.active_power.b, r.active_power.c = 2630.0, 2280.0, 2470.0  # W
    r.reactive_power.a, r.reactive_power.b, r.reactive_power.c = 610.0, 540.0, 580.0  # var
    return r


def channel_to(address: str, pki: dict[str, Path] | None) -> grpc.Channel:
    """Plaintext, or mutual TLS with the mesh certificate (the name checked is 127.0.0.1)."""
    if pki is None:
        return grpc.insecure_channel(address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki["ca"].read_bytes(),
        private_key=pki["key"].read_bytes(),
        certificate_chain=pki["cert"].read_bytes(),
    )
    return grpc.secure_channel(address, credentials)


def health_status(address: str, pki: dict[str, Path] | None) -> int | None:
    try:
        with channel_to(address, pki) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0).status
    except grpc.RpcError:
        return None


def model_statuses(assessment: assessment_pb2.Assessment) -> dict[str, int]:
    """model field name -> ModelStatus of every model result in the Assessment."""
    return {
        field.name: getattr(assessment, field.name).info.status
        for field in assessment.DESCRIPTOR.fields
        if field.message_type is not None and "info" in field.message_type.fields_by_name
    }


def run(image: str, with_models: bool) -> None:
    run_id = secrets.token_hex(4)
    prefix = f"gridtwin:image-test-{run_id}:"
    store = PrivateRedis(password=secrets.token_hex(24)).start()
    names: dict[str, str] = {}
    pki_dir = Path(tempfile.mkdtemp(prefix="gridtwin-image-test-pki-"))
    try:
        entries = image_entry_points(image)
        # Mutual TLS as on Kubernetes, once the image's code reads GRIDTWIN_TLS_*.
        pki = make_pki(pki_dir, "mesh") if image_has(image, "/app/gridtwin/security/tls.py") else None
        if pki is not None:
            pki_dir.chmod(0o755)
        log(f"services in the image: {', '.join(entries)}; transport: {'mutual TLS' if pki else 'plaintext'}")
        ports = {s: free_port() for s in entries}
        metrics_ports = {s: free_port() for s in entries}
        env = {
            **{f"{s.upper()}_PORT": str(p) for s, p in ports.items()},
            **{f"{s.upper()}_ADDR": f"127.0.0.1:{p}" for s, p in ports.items()},
            "REDIS_URL": store.url(),
            "GRIDTWIN_REDIS_PREFIX": prefix,
            # No tokens in the smoke test; certificates and reflection as in production.
            "GRIDTWIN_AUTH": "off",
            **(
                {
                    "GRIDTWIN_TLS_CERT": f"{TLS_DIR}/{pki['cert'].name}",
                    "GRIDTWIN_TLS_KEY": f"{TLS_DIR}/{pki['key'].name}",
                    "GRIDTWIN_TLS_CA": f"{TLS_DIR}/{pki['ca'].name}",
                }
                if pki
                else {}
            ),
            "GRIDTWIN_REFLECTION": "off",
            "GRIDTWIN_BIND_HOST": "127.0.0.1",
            # The history database on the /tmp tmpfs: Docker's tmpfs at /app/var came up owned by
            # root with mode 755 here, whatever its mode option, so uid 10001 could not create the
            # file (on Kubernetes history uses PostgreSQL from a Secret).
            "DATABASE_URL": "sqlite:////tmp/history.sqlite3",
            "OMP_NUM_THREADS": "1",
            "LOG_LEVEL": "INFO",
        }
        for service, module in entries.items():
            name = f"gridtwin-image-test-{run_id}-{service}"
            args = ["run", "-d", "--name", name, "--network", "host", "--read-only"]
            args += ["--tmpfs", "/tmp:rw,size=128m,mode=1777", "--tmpfs", "/app/var:rw,size=256m,mode=1777"]
            args += ["--user", "10001:10001", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]
            if pki:
                args += ["-v", f"{pki_dir}:{TLS_DIR}:ro"]
            for key, value in {**env, "METRICS_PORT": str(metrics_ports[service])}.items():
                args += ["-e", f"{key}={value}"]
            docker(*args, image, "python", "-m", module)
            names[service] = name
        log(f"started {len(names)} containers")

        grpc_services = [s for s in entries if s != "web"]
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = set(grpc_services)
        while pending and time.monotonic() < deadline:
            for service in sorted(pending):
                if health_status(f"127.0.0.1:{ports[service]}", pki) == SERVING:
                    pending.discard(service)
            running = docker(
                "ps", "--filter", f"name=gridtwin-image-test-{run_id}-", "--format", "{{.Names}}"
            ).stdout
            dead = [s for s, n in names.items() if n not in running.split()]
            if dead:
                raise AssertionError(f"containers exited: {dead}")
            time.sleep(1.0)
        assert not pending, f"not SERVING after {READY_TIMEOUT_S:.0f} s: {sorted(pending)}"
        log(f"gRPC health SERVING: {', '.join(grpc_services)}")
        if pki:
            internal = [s for s in grpc_services if s != "gateway"]
            open_to_plaintext = [
                s for s in internal if health_status(f"127.0.0.1:{ports[s]}", None) is not None
            ]
            assert not open_to_plaintext, f"answer a caller without the mesh certificate: {open_to_plaintext}"
            log("internal services refuse a caller without the mesh certificate")

        # The Kubernetes readiness/startup probe, run where the kubelet runs it.
        for service in grpc_services:
            probe = docker("exec", names[service], "python", "/app/grpc_probe.py", service, check=False)
            assert probe.returncode == 0, f"{service}: exec probe failed: {probe.stderr.strip()}"
        log("exec probe /app/grpc_probe.py passes in every gRPC container")

        if "web" in entries:
            scheme = "https" if pki else "http"
            for path in ("/readyz", "/metrics"):
                _wait_http(f"{scheme}://127.0.0.1:{ports['web']}{path}", deadline, pki)
            log("web answers /readyz and /metrics")
        if image_has(image, "/app/gridtwin/core/telemetry"):
            for service in grpc_services:
                _wait_http(f"http://127.0.0.1:{metrics_ports[service]}/metrics", deadline)
            log("every gRPC service serves /metrics")

        uid = docker("exec", names["gateway"], "python", "-c", "import os; print(os.getuid())").stdout.strip()
        assert uid == "10001", uid
        write = docker("exec", names["gateway"], "python", "-c", "open('/app/x', 'w')", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr

        with channel_to(f"127.0.0.1:{ports['gateway']}", pki) as channel:
            stub = gateway_pb2_grpc.GridTwinStub(channel)
            assessment = stub.Assess(reading(f"image-test-{run_id}"), timeout=30)
            assert assessment.status.code == 0, assessment.status
            modules = {m.module: m for m in assessment.modules}
            assert set(modules) == {"monitoring", "maintenance", "energy", "decision"}, set(modules)
            assert all(m.status == assessment_pb2.OK for m in modules.values()), modules
            models = model_statuses(assessment)
            assert len(models) == 16 and assessment_pb2.MODEL_STATUS_UNSPECIFIED not in models.values(), (
                models
            )
            counts: dict[str, int] = {}
            for status in models.values():
                name = assessment_pb2.ModelStatus.Name(status)
                counts[name] = counts.get(name, 0) + 1
            log(f"Assess OK (schema {assessment.feature_schema_version}), 4 modules OK, models: {counts}")
            # The catalogue says which models the modules loaded: all with a registry, none without.
            catalog = stub.ListModels(services_pb2.ListModelsRequest(), timeout=30).models
            loaded = sorted(m.name for m in catalog if m.status == assessment_pb2.OK)
            assert len(catalog) == 16, [m.name for m in catalog]
            assert len(loaded) == (16 if with_models else 0), f"loaded: {loaded}"
            log(f"ListModels: {len(loaded)} of {len(catalog)} models loaded from the registry")
            try:
                stub.Assess(reading(f"image-test-{run_id}-bad", frequency_hz=75.0), timeout=30)
                raise AssertionError("a 75 Hz reading on a 50 Hz meter was accepted")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.code()
            log("bad reading -> INVALID_ARGUMENT")

        client = store.client()
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        assert keys, "no key under the prefix: the services did not write to Redis"
        try:
            client.set("outside-the-prefix", b"1")
            raise AssertionError("the ACL user wrote outside its key prefix")
        except redis.exceptions.NoPermissionError:
            pass
        log(f"{len(keys)} Redis keys under the prefix; the ACL user is refused outside it")
    except BaseException:
        for service, name in names.items():
            logs = docker("logs", "--tail", "25", name, check=False)
            print(f"---- {service} ({name}) ----\n{logs.stdout}{logs.stderr}", file=sys.stderr)
        raise
    finally:
        if names:
            docker("rm", "-f", *names.values(), check=False)
        store.stop()
        shutil.rmtree(pki_dir, ignore_errors=True)


def _wait_http(url: str, deadline: float, pki: dict[str, Path] | None = None) -> None:
    last: Exception | None = None
    context = ssl.create_default_context(cafile=str(pki["ca"])) if pki and url.startswith("https") else None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as reply:
                if reply.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(1.0)
    raise AssertionError(f"{url} did not answer: {last}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    parser.add_argument(
        "--models", action="store_true", help="the image carries a registry (make image-models)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    run(args.image, args.models)
    log(f"smoke test passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
