"""grpc.aio server bootstrap shared by every service.

A service supplies its servicers and a readiness check; this module adds tracing and
metrics (a Prometheus `/metrics` endpoint on `METRICS_PORT`), the guard (admission control,
undecodable requests, sanitised failures: `gridtwin.core.guard`), the `grpc.health.v1` service,
server reflection (`GRIDTWIN_REFLECTION=on|off`, default on; off in production), TLS or mutual
TLS from `GRIDTWIN_TLS_*` (gridtwin.security.tls), and graceful shutdown on SIGTERM/SIGINT
(health goes NOT_SERVING, new calls are refused, in-flight calls get `SHUTDOWN_GRACE_S`).

Health has two names:
  * `""` and each service name: **readiness**, SERVING only while the service can answer
    correctly (models loaded, Redis answering *and accepting writes*);
  * `liveness`: SERVING from start until shutdown, whatever Redis does. A Redis outage
    takes replicas out of the endpoints but must not restart them (a restart cannot fix
    Redis and costs the modules minutes of warm-up), so liveness probes check this name.

The largest request a service accepts is `GRIDTWIN_MAX_RECEIVE_BYTES` (internal hops: 64 MiB,
a batch of 10,000 readings with features) unless its spec sets `max_receive_bytes` (the public
gateway: `GATEWAY_MAX_MESSAGE_BYTES`, 16 MiB); a larger message is RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from gridtwin.core.channels import SERVER_OPTIONS, connection_age_options
from gridtwin.core.config import service_port, settings
from gridtwin.core.guard import GuardInterceptor
from gridtwin.core.logs import setup_logging
from gridtwin.core.telemetry import (
    ServerTelemetryInterceptor,
    set_serving,
    setup_metrics,
    setup_tracing,
    shutdown_metrics,
    shutdown_tracing,
    start_metrics_server,
)
from gridtwin.security import tls

log = logging.getLogger(__name__)

READINESS_INTERVAL_S = 1.0
LIVENESS_SERVICE = "liveness"


@dataclass
class ServiceSpec:
    """What a service brings to the bootstrap."""

    name: str  # "ingest", "features", … (also the logger and tracing service name)
    # Adds servicers to the server and returns their full service names for health/reflection.
    register: Callable[[grpc.aio.Server], list[str]]
    # Called after the port is open: load models, connect to Redis. May take a while.
    start: Callable[[], Awaitable[None]] | None = None
    # Readiness: True when the service can answer correctly.
    ready: Callable[[], Awaitable[bool]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None
    # True for servers with long-lived streams (the gateway): their connections are not aged.
    long_lived_streams: bool = False
    # Largest request accepted, bytes (None: GRIDTWIN_MAX_RECEIVE_BYTES, default 64 MiB).
    max_receive_bytes: int | None = None
    # Called from outside the mesh (the gateway): TLS without a client certificate; internal
    # services require the mesh's client certificate when GRIDTWIN_TLS_CA is set.
    public: bool = False
    # Extra server interceptors, run inside the telemetry one (e.g. the gateway's auth).
    interceptors: list[grpc.aio.ServerInterceptor] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


async def _set_all(servicer: health.aio.HealthServicer, names: list[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *names]:
        await servicer.set(name, status)
    set_serving(serving)  # /readyz on the metrics port mirrors the gRPC health status


async def serve(spec: ServiceSpec, port: int | None = None) -> None:
    """Run a service until SIGTERM/SIGINT."""
    cfg = settings()
    setup_logging(spec.name, cfg.log_level)
    setup_tracing(f"gridtwin-{spec.name}")
    setup_metrics(f"gridtwin-{spec.name}")
    port = service_port(spec.name) if port is None else port

    options = SERVER_OPTIONS if spec.long_lived_streams else SERVER_OPTIONS + connection_age_options()
    max_receive = spec.max_receive_bytes or cfg.max_receive_bytes
    options = [o for o in options if o[0] != "grpc.max_receive_message_length"]
    options.append(("grpc.max_receive_message_length", max_receive))
    server = grpc.aio.server(interceptors=server_interceptors(spec), options=options)
    names = spec.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(server, names)
    await _set_all(health_servicer, names, serving=False)
    await health_servicer.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
    bound = bind(server, spec, port)
    await server.start()
    log.info("listening", extra={"port": bound, "services": names, "transport": tls.describe(spec.public)})
    start_metrics_server(bound, addr="0.0.0.0" if bind_host() == "[::]" else bind_host().strip("[]"))

    stop_event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_event.set)

    async def readiness() -> None:
        serving = None
        while not stop_event.is_set():
            try:
                now = True if spec.ready is None else await spec.ready()
            except Exception:  # a failing check means not ready, never a crash
                log.exception("readiness check failed")
                now = False
            if now != serving:
                await _set_all(health_servicer, names, serving=now)
                log.info("health", extra={"serving": now})
                serving = now
            try:
                await asyncio.wait_for(stop_event.wait(), READINESS_INTERVAL_S)
            except TimeoutError:
                pass

    async def starter() -> None:
        if spec.start is not None:
            await spec.start()

    start_task = asyncio.create_task(starter())
    await asyncio.wait(
        {start_task, asyncio.create_task(stop_event.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if start_task.done() and start_task.exception() is not None:
        log.error("start failed", exc_info=start_task.exception())
        await server.stop(0)
        raise SystemExit(1)
    readiness_task = asyncio.create_task(readiness())

    await stop_event.wait()
    log.info("shutting down: draining in-flight calls", extra={"grace_s": cfg.shutdown_grace_s})
    await health_servicer.enter_graceful_shutdown()
    set_serving(False)
    await server.stop(cfg.shutdown_grace_s)
    readiness_task.cancel()
    start_task.cancel()
    if spec.stop is not None:
        await spec.stop()
    shutdown_tracing()
    shutdown_metrics()
    log.info("stopped")


# ---- security and observability wiring ----------------------------------------------------
def server_interceptors(spec: ServiceSpec) -> list[grpc.aio.ServerInterceptor]:
    """Telemetry outermost (so refused and failed calls are traced and counted), then the
    guard (admission control, sanitised failures), then the service's own (auth at the
    gateway)."""
    return [ServerTelemetryInterceptor(), GuardInterceptor(), *spec.interceptors]


def reflection_enabled() -> bool:
    """`GRIDTWIN_REFLECTION`: on (default, for grpcurl on a laptop) or off (production: the
    contract is published in protos/, not advertised by every pod)."""
    value = settings().reflection.strip().lower()
    if value not in ("on", "off", "true", "false", "1", "0"):
        raise ValueError(f"GRIDTWIN_REFLECTION={value!r}: use on or off")
    return value in ("on", "true", "1")


def enable_reflection(server: grpc.aio.Server, names: list[str]) -> None:
    if not reflection_enabled():
        log.info("server reflection off (GRIDTWIN_REFLECTION=off)")
        return
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )


def bind_host() -> str:
    """`GRIDTWIN_BIND_HOST`: every interface by default ("[::]"); `make run` with auth off
    uses 127.0.0.1 so an open mesh is not reachable from the network."""
    return settings().bind_host


def bind(server: grpc.aio.Server, spec: ServiceSpec, port: int) -> int:
    """Open the service's port: TLS / mutual TLS when certificates are configured."""
    credentials = tls.server_credentials(public=spec.public)
    address = f"{bind_host()}:{port}"
    bound = (
        server.add_insecure_port(address)
        if credentials is None
        else server.add_secure_port(address, credentials)
    )
    if bound == 0:
        raise RuntimeError(f"{spec.name}: cannot bind port {port}")
    return bound


def run(make_spec: Callable[[], ServiceSpec]) -> None:
    """Entry point for `python -m services.<name>`. The spec is built inside the event loop
    because grpc.aio channels and Redis clients bind to the loop that creates them."""

    async def main() -> None:
        await serve(make_spec())

    asyncio.run(main())
