"""Where Prometheus reads the metrics: a `/metrics` HTTP endpoint next to every gRPC server,
and the pieces the web service (FastAPI) mounts on its own port.

gRPC services listen on `METRICS_PORT` (default: the service's gRPC port + 1000, e.g. the
gateway 50051 → 51051; `0` disables; on Kubernetes every pod uses 9464). The endpoint is plain
HTTP: it carries no secrets, and the cluster's NetworkPolicy limits who may scrape it.

The same port answers `/readyz` (200 while the gRPC health status is SERVING, else 503) and
`/healthz` (200 while the process answers): kubelet's native gRPC probe cannot speak mutual
TLS, so probes of a TLS mesh use these HTTP paths instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, make_asgi_app
from prometheus_client.exposition import choose_encoder

from gridtwin.core.config import settings
from gridtwin.core.telemetry.metrics import LATENCY_BUCKETS_S

log = logging.getLogger(__name__)

METRICS_PORT_OFFSET = 1000


def metrics_port(grpc_port: int) -> int:
    """`METRICS_PORT`, else the gRPC port + 1000; 0 means no endpoint."""
    configured = settings().metrics_port
    return grpc_port + METRICS_PORT_OFFSET if configured is None else configured


_serving = False


def set_serving(serving: bool) -> None:
    """Mirror the gRPC health status for `/readyz`."""
    global _serving
    _serving = serving


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/metrics":
            encoder, content_type = choose_encoder(self.headers.get("Accept"))
            self._answer(200, encoder(REGISTRY), content_type)
        elif path == "/readyz":
            self._answer(200 if _serving else 503, b"SERVING\n" if _serving else b"NOT_SERVING\n")
        elif path == "/healthz":
            self._answer(200, b"ok\n")
        else:
            self._answer(404, b"not found: /metrics, /readyz, /healthz\n")

    def _answer(self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - scrapes are not news
        return


def start_metrics_server(grpc_port: int, addr: str = "0.0.0.0") -> int | None:
    """Serve `/metrics`, `/readyz` and `/healthz` in a background thread; the port, or None
    when disabled or unbindable (a busy metrics port is logged loudly but does not keep the
    service from serving)."""
    port = metrics_port(grpc_port)
    if port == 0:
        log.info("metrics endpoint disabled (METRICS_PORT=0)")
        return None
    try:
        server = ThreadingHTTPServer((addr, port), _Handler)
    except OSError as exc:
        log.error("metrics endpoint NOT started: cannot bind port %s (%s)", port, exc.strerror)
        return None
    server.daemon_threads = True
    Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    log.info("metrics endpoint listening", extra={"metrics_port": port})
    return port


def metrics_asgi_app() -> Any:
    """An ASGI app serving the process's metrics; the web service mounts it at `/metrics`
    (`app.mount("/metrics", metrics_asgi_app())`)."""
    return make_asgi_app()


HTTP_REQUESTS = Counter(
    "http_server_requests", "HTTP requests by method, route template and status", ("method", "route", "code")
)
HTTP_SECONDS = Histogram(
    "http_server_request_duration_seconds",
    "HTTP request latency by method and route template",
    ("method", "route"),
    buckets=LATENCY_BUCKETS_S,
)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class PrometheusMiddleware:
    """ASGI middleware counting HTTP requests and their latency by route template (`/meters/{id}`,
    not the concrete path, so meter ids do not explode the label set). FastAPI:
    `app.add_middleware(PrometheusMiddleware)`."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") == "/metrics":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            HTTP_REQUESTS.labels(method, template, str(status["code"])).inc()
            HTTP_SECONDS.labels(method, template).observe(time.perf_counter() - started)
