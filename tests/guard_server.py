"""A real grpc.aio server with the production guard interceptor, run on a background thread,
serving a test Ingest servicer (tests of admission control, decoding and failure mapping)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from gridtwin.core.guard import Admission, GuardInterceptor
from gridtwin.mesh import free_port
from gridtwin.v1 import services_pb2_grpc

Handler = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class _Servicer(services_pb2_grpc.IngestServicer):
    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def Ingest(self, request, context):  # noqa: N802 - gRPC method name
        return await self.handler(request, context)


class GuardedServer:
    """`with GuardedServer(handler, admission) as address:` a live server at `address`."""

    def __init__(self, handler: Handler, admission: Admission | None = None, max_receive: int | None = None):
        self.handler = handler
        self.admission = admission or Admission(max_calls=64, max_streams=16, retry_after_ms=250)
        self.max_receive = max_receive
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: grpc.aio.Server | None = None

    async def _start(self) -> None:
        options = [("grpc.max_receive_message_length", self.max_receive)] if self.max_receive else []
        self.server = grpc.aio.server(interceptors=[GuardInterceptor(self.admission)], options=options)
        services_pb2_grpc.add_IngestServicer_to_server(_Servicer(self.handler), self.server)
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self.server.start()

    def __enter__(self) -> str:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        asyncio.run_coroutine_threadsafe(self.server.stop(0), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
