"""Builds the ServiceSpec of a model module so each module's entry point is a few lines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from gridtwin.core.config import settings
from gridtwin.core.redis_client import redis_ready
from gridtwin.core.server import ServiceSpec
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.serving.module import ModelFactory, ModuleServicer


def module_spec(
    module: str,
    add_to_server: Callable[[object, grpc.aio.Server], None],
    service_name: str,
    factories: dict[str, ModelFactory],
) -> ServiceSpec:
    servicer = ModuleServicer(module, factories, tuple(FEATURE_NAMES), SCHEMA_VERSION)
    tasks: list[asyncio.Task[None]] = []

    def register(server: grpc.aio.Server) -> list[str]:
        add_to_server(servicer, server)
        return [service_name]

    async def start() -> None:
        # Loading and warming models is CPU work: keep the event loop (health checks) free.
        await asyncio.to_thread(servicer.load_all)
        tasks.append(asyncio.create_task(servicer.watch_registry()))

    async def ready() -> bool:
        # Models loaded and warmed, and Redis accepting writes (per-meter model state lives
        # there). Liveness (health name "liveness") does not depend on this.
        return servicer.loaded and await redis_ready(servicer.redis, settings().redis_prefix, module)

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await servicer.redis.aclose()
        servicer.close()

    spec = ServiceSpec(name=module, register=register, start=start, ready=ready, stop=stop)
    spec.extra["servicer"] = servicer
    return spec
