"""The web service's gRPC client of the gateway: one aio channel, the caller's token forwarded."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gridtwin.core.channels import CHANNEL_OPTIONS
from gridtwin.core.config import service_addr, settings
from gridtwin.security.tls import channel_credentials
from gridtwin.v1 import gateway_pb2_grpc


class GatewayClient:
    """The gateway stub and the per-call settings of the web service."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address or service_addr("gateway")
        # Opened inside the server's event loop (grpc.aio channels belong to one loop).
        self.channel: grpc.aio.Channel | None = None
        # Per-call deadlines, s: a unary call and a batch (large batches take longer).
        cfg = settings()
        self.timeout_s = cfg.web_gateway_timeout_s
        self.batch_timeout_s = cfg.web_gateway_batch_timeout_s
        # A report reads and plots up to a year of stored readings.
        self.report_timeout_s = cfg.web_gateway_report_timeout_s

    def open(self) -> None:
        # mTLS to the gateway when the mesh CA is configured, as every other in-mesh client.
        credentials = channel_credentials()
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(self.address, options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.aio.secure_channel(self.address, credentials, options=CHANNEL_OPTIONS)
        self.stub = gateway_pb2_grpc.GridTwinStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    async def ready(self) -> bool:
        try:
            reply = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()


class BadAuthorization(ValueError):
    """An Authorization value that gRPC metadata cannot carry."""


def auth_metadata(authorization: str | None) -> tuple[tuple[str, str], ...] | None:
    """The caller's `Authorization` header as gRPC metadata (the gateway checks it).

    gRPC metadata values are printable ASCII (0x20–0x7E); anything else cannot be a bearer
    token and is refused here rather than failing inside the gRPC call.
    """
    if not authorization:
        return None
    if not all(" " <= ch <= "~" for ch in authorization):
        raise BadAuthorization("Authorization: only printable ASCII can be a bearer token")
    return (("authorization", authorization),)
