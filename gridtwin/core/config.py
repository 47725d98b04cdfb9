"""Configuration from environment variables, read once per process.

Every address, port and deadline is an environment variable so the same image runs locally,
in tests (free ports) and on Kubernetes (Service DNS names). Names are documented in the README.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw not in (None, "") else default


# Default ports of the mesh; each can be overridden with <SERVICE>_PORT / <SERVICE>_ADDR.
DEFAULT_PORTS: dict[str, int] = {
    "gateway": 50051,
    "ingest": 50052,
    "features": 50053,
    "monitoring": 50054,
    "maintenance": 50055,
    "energy": 50056,
    "decision": 50057,
    "web": 8080,
    "history": 50058,
}


def service_port(service: str) -> int:
    """Port a service listens on: `<SERVICE>_PORT`, else the mesh default."""
    return env_int(f"{service.upper()}_PORT", DEFAULT_PORTS[service])


def service_addr(service: str) -> str:
    """Address clients use for a service: `<SERVICE>_ADDR`, else localhost and its port.

    On Kubernetes this is `dns:///<service>-headless.<ns>.svc.cluster.local:<port>` so that
    the client's round-robin policy sees every pod.
    """
    return env_str(f"{service.upper()}_ADDR", f"127.0.0.1:{service_port(service)}")


@dataclass(frozen=True)
class Settings:
    """Process-wide settings shared by the services."""

    redis_url: str = field(default_factory=lambda: env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))
    # Prefix of every Redis key the mesh writes; tests use a unique one per run.
    redis_prefix: str = field(default_factory=lambda: env_str("GRIDTWIN_REDIS_PREFIX", "gridtwin:"))
    registry_dir: str = field(default_factory=lambda: env_str("GRIDTWIN_REGISTRY", "registry"))
    otlp_endpoint: str = field(default_factory=lambda: env_str("OTEL_EXPORTER_OTLP_ENDPOINT", ""))
    log_level: str = field(default_factory=lambda: env_str("LOG_LEVEL", "INFO"))
    # Per-hop deadlines (seconds) used when the caller gave none or a longer one.
    ingest_deadline_s: float = field(default_factory=lambda: env_float("INGEST_DEADLINE_S", 2.0))
    module_deadline_s: float = field(default_factory=lambda: env_float("MODULE_DEADLINE_S", 0.5))
    decision_deadline_s: float = field(default_factory=lambda: env_float("DECISION_DEADLINE_S", 0.5))
    shutdown_grace_s: float = field(default_factory=lambda: env_float("SHUTDOWN_GRACE_S", 5.0))


def settings() -> Settings:
    return Settings()
