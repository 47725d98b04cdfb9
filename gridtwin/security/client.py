"""What a client of the gateway (the live feed, examples, tools) sends: the bearer token from
`GRIDTWIN_TOKEN` and, under mutual TLS, the mesh credentials from GRIDTWIN_TLS_*."""

from __future__ import annotations

import grpc

from gridtwin.core.config import settings
from gridtwin.security.tls import channel_credentials, material


def call_metadata() -> list[tuple[str, str]]:
    """`authorization: Bearer $GRIDTWIN_TOKEN`, or nothing when the variable is unset."""
    token = settings().token.strip()
    return [("authorization", f"Bearer {token}")] if token else []


def gateway_credentials() -> grpc.ChannelCredentials | None:
    """Mesh credentials (trust the mesh CA, present this identity's certificate) when
    GRIDTWIN_TLS_CA is set, else None (plaintext)."""
    return channel_credentials(material())
