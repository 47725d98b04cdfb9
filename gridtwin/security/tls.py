"""Transport security from the environment: TLS on every listener, mutual TLS in the mesh.

| variable | meaning |
|---|---|
| `GRIDTWIN_TLS_CERT`, `GRIDTWIN_TLS_KEY` | PEM certificate (chain) and key of this process; unset = plaintext |
| `GRIDTWIN_TLS_CA` | PEM CA of the mesh; set = mutual TLS between the services |

With a certificate and key, a server speaks TLS. With the CA as well:
- an **internal** service (ingest, features, the modules, history) requires a client
  certificate signed by the mesh CA: only mesh callers get in, anyone else fails the handshake;
- the **public** gateway (and the web service) accept TLS without a client certificate
  (callers outside the cluster authenticate with a bearer token instead);
- every client channel of the mesh trusts only the mesh CA and presents this process's own
  certificate (the dev certificates carry both serverAuth and clientAuth).

Without the CA, clients trust the system roots (for a gateway with a public certificate) and
present nothing. Half a configuration (a certificate without its key) is an error at start,
never a silent fallback to plaintext.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from gridtwin.core.config import Settings, settings


class TLSConfigError(RuntimeError):
    """The TLS environment is incomplete or names unreadable files."""


@dataclass(frozen=True)
class TLSMaterial:
    """PEM bytes of this process's identity and of the mesh CA (each may be absent)."""

    cert: bytes | None
    key: bytes | None
    ca: bytes | None

    @property
    def enabled(self) -> bool:
        return self.cert is not None

    @property
    def mutual(self) -> bool:
        return self.ca is not None


def _read(var: str) -> bytes | None:
    path = str(getattr(settings(), Settings.variables()[var])).strip()
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"{var}={path}: {exc.strerror}") from None


def material() -> TLSMaterial:
    """The TLS files named by the environment, read now."""
    cert, key, ca = _read("GRIDTWIN_TLS_CERT"), _read("GRIDTWIN_TLS_KEY"), _read("GRIDTWIN_TLS_CA")
    if (cert is None) != (key is None):
        raise TLSConfigError("GRIDTWIN_TLS_CERT and GRIDTWIN_TLS_KEY must be set together")
    return TLSMaterial(cert, key, ca)


def server_credentials(public: bool, tls: TLSMaterial | None = None) -> grpc.ServerCredentials | None:
    """Credentials for a gRPC listener, or None for plaintext (no certificate configured).

    `public` listeners (the gateway) do not require a client certificate; internal ones do
    whenever the mesh CA is configured.
    """
    tls = material() if tls is None else tls
    if not tls.enabled:
        if tls.mutual:
            raise TLSConfigError("GRIDTWIN_TLS_CA is set but GRIDTWIN_TLS_CERT/KEY are not")
        return None
    assert tls.key is not None and tls.cert is not None
    return grpc.ssl_server_credentials(
        [(tls.key, tls.cert)],
        root_certificates=tls.ca,
        require_client_auth=tls.mutual and not public,
    )


def channel_credentials(tls: TLSMaterial | None = None) -> grpc.ChannelCredentials | None:
    """Credentials for a client channel inside the mesh, or None for plaintext.

    TLS when the mesh CA is configured: trust only that CA and present this process's
    certificate (mutual TLS).
    """
    tls = material() if tls is None else tls
    if not tls.mutual:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert
    )


def uvicorn_ssl_options(tls: TLSMaterial | None = None) -> dict[str, object]:
    """Keyword arguments for `uvicorn.run` (the web service is public: TLS, no client
    certificate required). Empty when no certificate is configured."""
    tls = material() if tls is None else tls
    if not tls.enabled:
        return {}
    cfg = settings()
    return {"ssl_certfile": cfg.tls_cert, "ssl_keyfile": cfg.tls_key}


def describe(public: bool, tls: TLSMaterial | None = None) -> str:
    """One line for the start-up log."""
    tls = material() if tls is None else tls
    if not tls.enabled:
        return "plaintext (GRIDTWIN_TLS_CERT not set)"
    if not tls.mutual:
        return "TLS"
    return "TLS, client certificates optional (public)" if public else "mutual TLS (mesh CA required)"
