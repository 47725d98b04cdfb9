"""Prometheus metrics of the web service, served at /metrics on its own port."""

from __future__ import annotations

import time

from fastapi import FastAPI, Request, Response
from prometheus_client import Counter, Gauge, Histogram, make_asgi_app

REQUESTS = Counter("gridtwin_web_requests_total", "HTTP requests by route and status", ["route", "status"])
LATENCY = Histogram("gridtwin_web_request_seconds", "HTTP request duration, s", ["route"])
LIVE_CONNECTIONS = Gauge("gridtwin_web_live_connections", "open /v1/live WebSockets")
LIVE_DROPPED = Counter(
    "gridtwin_web_live_dropped_total", "assessments dropped for slow /v1/live clients (oldest first)"
)


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def count(request: Request, call_next) -> Response:  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response: Response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        REQUESTS.labels(name, str(response.status_code)).inc()
        LATENCY.labels(name).observe(time.perf_counter() - started)
        return response

    app.mount("/metrics", make_asgi_app())
