"""Start, watch and stop the mesh's processes: used by `make run`, the tests and the benchmark.

Each service runs as its own OS process (`python -m services.<name>`), exactly as in a
container, configured only through environment variables (each process gets its own
METRICS_PORT and, with `tls_dir`, its own certificate, as each pod would). Logs go to one
file per service.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gridtwin.core.config import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parent.parent
ENTRY_POINTS = {
    "features": "services.features",
    "ingest": "services.ingest",
    "monitoring": "services.monitoring",
    "maintenance": "services.maintenance",
    "energy": "services.energy",
    "decision": "services.decision",
    "history": "services.history",
    "gateway": "gateway",
    "web": "services.web",
}
SERVICES = tuple(ENTRY_POINTS)
# Services that answer HTTP (readiness at /readyz) rather than grpc.health.v1.
HTTP_SERVICES = frozenset({"web"})


# Ports handed out by this process, never handed out twice (meshes of several test modules
# run side by side, and a port is bound by its service only some time after it is chosen).
_HANDED_OUT: set[int] = set()
# Below Linux's ephemeral range (32768-60999): a port chosen there could be taken by an outgoing
# connection before the service binds it. The Redis Cluster fixture adds 10,000 (bus ports).
_PORT_RANGE = (20000, 32000)


def free_port() -> int:
    """A port nobody listens on now and that this process has not handed out before."""
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(*_PORT_RANGE)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(f"no free port in {_PORT_RANGE}")


def sync_channel(address: str, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, credentials)


def tls_files(tls_dir: Path, identity: str) -> dict[str, str]:
    """GRIDTWIN_TLS_* for one identity of a `gridtwin certs create` folder."""
    return {
        "GRIDTWIN_TLS_CA": str(tls_dir / "ca.crt"),
        "GRIDTWIN_TLS_CERT": str(tls_dir / f"{identity}.crt"),
        "GRIDTWIN_TLS_KEY": str(tls_dir / f"{identity}.key"),
    }


def health_status(
    address: str, timeout: float = 1.0, credentials: grpc.ChannelCredentials | None = None
) -> int | None:
    """The overall grpc.health.v1 status of a server, or None if it does not answer."""
    try:
        with sync_channel(address, credentials) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout).status
    except grpc.RpcError:
        return None


def http_ready(address: str, timeout: float = 1.0, ca_file: str | None = None) -> bool:
    """Whether an HTTP service answers 200 at /readyz (over HTTPS, trusting `ca_file`, when given)."""
    import ssl
    import urllib.error
    import urllib.request

    scheme, context = ("https", ssl.create_default_context(cafile=ca_file)) if ca_file else ("http", None)
    try:
        with urllib.request.urlopen(
            f"{scheme}://{address}/readyz", timeout=timeout, context=context
        ) as reply:
            return bool(reply.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def is_ready(
    service: str,
    address: str,
    timeout: float = 0.5,
    credentials: grpc.ChannelCredentials | None = None,
    ca_file: str | None = None,
) -> bool:
    """Ready: /readyz answers 200 (HTTP services), or grpc.health.v1 says SERVING."""
    if service in HTTP_SERVICES:
        return http_ready(address, timeout, ca_file)
    return health_status(address, timeout, credentials) == health_pb2.HealthCheckResponse.SERVING


class Mesh:
    """The services (and the web front end) as child processes on given (or free) ports."""

    def __init__(
        self,
        *,
        ports: dict[str, int] | None = None,
        redis_url: str = "redis://127.0.0.1:6379/0",
        redis_prefix: str = "gridtwin:",
        registry: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        extra_env: dict[str, str] | None = None,
        tls_dir: str | os.PathLike[str] | None = None,
        database_url: str | None = None,
        redis_cluster_nodes: str | None = None,
    ) -> None:
        self.ports = dict(ports) if ports is not None else {s: free_port() for s in SERVICES}
        # /metrics ports: the documented default (gRPC port + 1000) on fixed ports, free ones
        # when the gRPC ports are free ones too (tests run meshes side by side).
        self.metrics_ports = {
            s: (port + 1000 if ports is not None else free_port()) for s, port in self.ports.items()
        }
        # Folder of `gridtwin certs create`: mutual TLS, each service with its own certificate.
        self.tls_dir = Path(tls_dir) if tls_dir is not None else None
        self.redis_url = redis_url
        # Seed nodes ("host:port,...") of a Redis Cluster: every service uses the cluster
        # (REDIS_CLUSTER_NODES) instead of the single server at redis_url.
        self.redis_cluster_nodes = redis_cluster_nodes
        self.redis_prefix = redis_prefix
        self.registry = str(registry if registry is not None else ROOT / "registry")
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="gridtwin-logs-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.extra_env = extra_env or {}
        # History database: given, else a private SQLite file beside the logs (tests and the
        # benchmark never write into the repository's var/history.sqlite3).
        self.database_url = database_url or f"sqlite:///{self.log_dir.resolve() / 'history.sqlite3'}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @classmethod
    def default_ports(cls) -> dict[str, int]:
        return {s: int(os.environ.get(f"{s.upper()}_PORT", DEFAULT_PORTS[s])) for s in SERVICES}

    def address(self, service: str) -> str:
        return f"127.0.0.1:{self.ports[service]}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for service, port in self.ports.items():
            env[f"{service.upper()}_PORT"] = str(port)
            env[f"{service.upper()}_ADDR"] = self.address(service)
        env.update(
            REDIS_URL=self.redis_url,
            GRIDTWIN_REDIS_PREFIX=self.redis_prefix,
            GRIDTWIN_REGISTRY=self.registry,
            DATABASE_URL=self.database_url,
            PYTHONUNBUFFERED="1",
        )
        if self.redis_cluster_nodes:  # else inherited, like every other variable
            env["REDIS_CLUSTER_NODES"] = self.redis_cluster_nodes
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
        # One compute thread per service process: seven processes share the cores, and idle
        # BLAS/OpenMP worker threads spin after each call, stealing CPU from the others.
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env.setdefault(var, "1")
        env.update(self.extra_env)
        return env

    def service_env(self, service: str, env: dict[str, str]) -> dict[str, str]:
        """What differs between the processes: the metrics port and the TLS identity."""
        own = dict(env)
        if service in self.metrics_ports and env.get("METRICS_PORT") != "0":  # 0 keeps them all off
            own["METRICS_PORT"] = str(self.metrics_ports[service])
        if self.tls_dir is not None:
            own.update(tls_files(self.tls_dir, service))
        return own

    def credentials(self) -> grpc.ChannelCredentials | None:
        """Client credentials of a mesh caller (the `client` identity) when TLS is on."""
        if self.tls_dir is None:
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=(self.tls_dir / "ca.crt").read_bytes(),
            private_key=(self.tls_dir / "client.key").read_bytes(),
            certificate_chain=(self.tls_dir / "client.crt").read_bytes(),
        )

    def ca_file(self) -> str | None:
        """The mesh CA (to check HTTPS services such as web) when TLS is on."""
        return None if self.tls_dir is None else str(self.tls_dir / "ca.crt")

    def channel(self, service: str) -> grpc.Channel:
        """A blocking channel to a service, with the mesh's client certificate under TLS."""
        return sync_channel(self.address(service), self.credentials())

    def metrics_url(self, service: str) -> str:
        # HTTP services serve /metrics (and /readyz, /healthz) on their own port, over HTTPS
        # when the mesh runs with TLS.
        if service in HTTP_SERVICES:
            scheme = "https" if self.tls_dir is not None else "http"
            return f"{scheme}://{self.address(service)}/metrics"
        return f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"

    def start(self, services: Iterable[str] = SERVICES) -> None:
        base_env = self.env()
        for service in services:
            env = self.service_env(service, base_env)
            log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - owned by the child
            self.procs[service] = subprocess.Popen(
                [sys.executable, "-m", ENTRY_POINTS[service]],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()

    def wait_healthy(self, services: Iterable[str] = SERVICES, timeout: float = 120.0) -> None:
        """Block until every service reports SERVING; raise with its log tail otherwise."""
        pending = set(services)
        credentials = self.credentials()
        deadline = time.monotonic() + timeout
        while pending:
            for service in sorted(pending):
                proc = self.procs.get(service)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{service} exited ({proc.returncode}):\n{self.log_tail(service)}")
                if is_ready(service, self.address(service), 0.5, credentials, self.ca_file()):
                    pending.discard(service)
            if not pending:
                return
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {s}\n{self.log_tail(s)}" for s in sorted(pending))
                raise TimeoutError(f"not SERVING after {timeout:.0f} s: {sorted(pending)}\n{tails}")
            time.sleep(0.2)

    def log_tail(self, service: str, lines: int = 30) -> str:
        path = self.log_dir / f"{service}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop_service(self, service: str, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        proc = self.procs.pop(service, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop(self) -> None:
        for service in reversed(list(self.procs)):
            proc = self.procs[service]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for service in list(self.procs):
            self.stop_service(service)

    def pids(self) -> dict[str, int]:
        return {s: p.pid for s, p in self.procs.items() if p.poll() is None}

    def __enter__(self) -> Mesh:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def delete_redis_prefix(url: str, prefix: str) -> int:
    """Delete every key under `prefix` (tests and benchmarks clean up after themselves)."""
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])
    return len(keys)


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


class LocalRedis:
    """A private `redis-server` on a free port with no persistence (tests, or `make run`
    when no server answers at REDIS_URL). `args` adds server options (e.g. `--maxmemory`,
    or AOF persistence for the chaos tests, which kill and restart it on the same port)."""

    def __init__(self, port: int | None = None, args: Iterable[str] = ()) -> None:
        self.port = port or free_port()
        self.args = list(args)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> LocalRedis:
        binary = redis_server_binary()
        if binary is None:
            raise FileNotFoundError("redis-server not found on PATH")
        persistence = [] if "--appendonly" in self.args else ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence, *self.args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save (a crash)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
