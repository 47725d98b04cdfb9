"""Configuration from environment variables, read once per process.

Every address, port, deadline, limit and model threshold the services use is an environment
variable, so the same image runs locally, in tests (free ports) and on Kubernetes (Service DNS
names). `Settings` declares each one (its variable name, default and type) and `settings()`
reads the environment once per process and caches the result: serving code asks `settings()`,
never `os.environ`. Tests that change the environment call `reset_settings()` afterwards.
The README's environment table is checked against `Settings` (tests/unit/test_readme_environment.py).

`env_str`/`env_int`/`env_float` remain for the `make run` plumbing (launcher, live feed), which
sets variables for the processes it starts and is not itself a serving process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


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


def _var(name: str, default: Any) -> Any:
    """A settings field read from the environment variable `name` (empty = the default)."""
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class Settings:
    """Every setting the services and the served models read, one field per variable.

    Types come from the defaults (int, float, str; `None` defaults are optional ints)."""

    # ---- Redis and the model registry
    redis_url: str = _var("REDIS_URL", "redis://127.0.0.1:6379/0")
    # Prefix of every Redis key the mesh writes; tests use a unique one per run.
    redis_prefix: str = _var("GRIDTWIN_REDIS_PREFIX", "gridtwin:")
    redis_cluster_nodes: str = _var("REDIS_CLUSTER_NODES", "")
    registry_dir: str = _var("GRIDTWIN_REGISTRY", "registry")

    # ---- telemetry and logs
    otlp_endpoint: str = _var("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    otel_metric_export_interval_ms: float = _var("OTEL_METRIC_EXPORT_INTERVAL", 15000.0)
    log_level: str = _var("LOG_LEVEL", "INFO")
    metrics_port: int | None = _var("METRICS_PORT", None)  # None: the gRPC port + 1000

    # ---- deadlines (s), used when the caller gave none or a longer one
    ingest_deadline_s: float = _var("INGEST_DEADLINE_S", 2.0)
    module_deadline_s: float = _var("MODULE_DEADLINE_S", 0.5)
    decision_deadline_s: float = _var("DECISION_DEADLINE_S", 0.5)
    shutdown_grace_s: float = _var("SHUTDOWN_GRACE_S", 5.0)
    module_min_remaining_s: float = _var("MODULE_MIN_REMAINING_S", 0.002)

    # ---- every gRPC server and channel
    max_calls: int = _var("GRIDTWIN_MAX_CALLS", 512)
    max_streams: int = _var("GRIDTWIN_MAX_STREAMS", 128)
    retry_after_ms: int = _var("GRIDTWIN_RETRY_AFTER_MS", 200)
    max_receive_bytes: int = _var("GRIDTWIN_MAX_RECEIVE_BYTES", 64 * 1024 * 1024)
    bind_host: str = _var("GRIDTWIN_BIND_HOST", "[::]")
    reflection: str = _var("GRIDTWIN_REFLECTION", "on")
    grpc_max_connection_age_s: float = _var("GRPC_MAX_CONNECTION_AGE_S", 60.0)
    grpc_max_connection_age_grace_s: float = _var("GRPC_MAX_CONNECTION_AGE_GRACE_S", 10.0)

    # ---- security
    auth: str = _var("GRIDTWIN_AUTH", "off")
    jwt_secret: str = _var("GRIDTWIN_JWT_SECRET", "")
    jwt_private_key: str = _var("GRIDTWIN_JWT_PRIVATE_KEY", "")
    jwt_public_key: str = _var("GRIDTWIN_JWT_PUBLIC_KEY", "")
    tls_cert: str = _var("GRIDTWIN_TLS_CERT", "")
    tls_key: str = _var("GRIDTWIN_TLS_KEY", "")
    tls_ca: str = _var("GRIDTWIN_TLS_CA", "")
    token: str = _var("GRIDTWIN_TOKEN", "")

    # ---- gateway
    gateway_max_message_bytes: int = _var("GATEWAY_MAX_MESSAGE_BYTES", 16 * 1024 * 1024)
    gateway_stream_buffer_bytes: int = _var("GATEWAY_STREAM_BUFFER_BYTES", 4 * 1024 * 1024)
    gateway_max_batch: int = _var("GATEWAY_MAX_BATCH", 10_000)
    gateway_stream_batch: int = _var("GATEWAY_STREAM_BATCH", 512)
    publish_queue: int = _var("PUBLISH_QUEUE", 50_000)
    gateway_report_timeout_s: float = _var("GATEWAY_REPORT_TIMEOUT_S", 120.0)

    # ---- ingest: validation bounds and de-duplication
    ingest_max_voltage_pu: float = _var("INGEST_MAX_VOLTAGE_PU", 2.0)
    ingest_power_tolerance: float = _var("INGEST_POWER_TOLERANCE", 0.05)
    ingest_max_future_s: float = _var("INGEST_MAX_FUTURE_S", 300.0)
    ingest_min_timestamp_s: float = _var("INGEST_MIN_TIMESTAMP_S", 946_684_800.0)  # 2000-01-01
    ingest_max_current_a: float = _var("INGEST_MAX_CURRENT_A", 100_000.0)
    ingest_max_power_w: float = _var("INGEST_MAX_POWER_W", 50_000_000.0)
    ingest_max_waveform_samples: int = _var("INGEST_MAX_WAVEFORM_SAMPLES", 16_384)
    ingest_nominal_voltages_v: str = _var("INGEST_NOMINAL_VOLTAGES_V", "")
    dedup_ttl_s: int = _var("DEDUP_TTL_S", 86_400)
    dedup_pending_ttl_s: int = _var("DEDUP_PENDING_TTL_S", 10)

    # ---- history
    database_url: str = _var("DATABASE_URL", "")
    history_retention_days: int = _var("HISTORY_RETENTION_DAYS", 90)
    history_stream_maxlen: int = _var("HISTORY_STREAM_MAXLEN", 100_000)
    history_batch: int = _var("HISTORY_BATCH", 1000)
    history_block_ms: int = _var("HISTORY_BLOCK_MS", 1000)
    history_claim_idle_ms: int = _var("HISTORY_CLAIM_IDLE_MS", 30_000)

    # ---- web
    web_host: str = _var("WEB_HOST", "0.0.0.0")
    web_gateway_timeout_s: float = _var("WEB_GATEWAY_TIMEOUT_S", 10.0)
    web_gateway_batch_timeout_s: float = _var("WEB_GATEWAY_BATCH_TIMEOUT_S", 60.0)
    web_gateway_report_timeout_s: float = _var("WEB_GATEWAY_REPORT_TIMEOUT_S", 120.0)
    web_live_queue: int = _var("WEB_LIVE_QUEUE", 1000)

    # ---- the served models (handed to them as `ModelConfig`, gridtwin/serving/model.py)
    tariff_per_kwh: float = _var("GRIDTWIN_TARIFF_PER_KWH", 0.30)  # EUR/kWh of losses saved
    target_pf: float = _var("GRIDTWIN_TARGET_PF", 0.95)  # reactive_power's target power factor
    dispatch_lp_budget_ms: float = _var("DISPATCH_LP_BUDGET_MS", 2.0)
    # Materiality: below these a decision model answers "no action" (docs/decisions.md).
    min_savings_eur_per_h: float = _var("GRIDTWIN_MIN_SAVINGS_EUR_PER_H", 1.0)
    vuf_action_pct: float = _var("GRIDTWIN_VUF_ACTION_PCT", 1.0)
    pf_band: float = _var("GRIDTWIN_PF_BAND", 0.02)
    min_dr_potential_kw: float = _var("GRIDTWIN_MIN_DR_POTENTIAL_KW", 0.5)

    # ---- model lifecycle: drift windows (docs/lifecycle.md) and who records an alias move
    drift_bucket_s: int = _var("GRIDTWIN_DRIFT_BUCKET_S", 300)
    drift_window_s: int = _var("GRIDTWIN_DRIFT_WINDOW_S", 86400)
    drift_ttl_s: int = _var("GRIDTWIN_DRIFT_TTL_S", 172800)
    drift_psi: float = _var("GRIDTWIN_DRIFT_PSI", 0.2)
    drift_min_readings: int = _var("GRIDTWIN_DRIFT_MIN_READINGS", 300)
    drift_false_rate: float = _var("GRIDTWIN_DRIFT_FALSE_RATE", 0.01)
    # Automatic promotion after a shadow period without regression (0 = off; gridtwin.lifecycle.promotion)
    auto_promote_after_s: float = _var("GRIDTWIN_AUTO_PROMOTE_AFTER_S", 0.0)
    auto_promote_min_answers: int = _var("GRIDTWIN_AUTO_PROMOTE_MIN_ANSWERS", 1000)
    user: str = _var("GRIDTWIN_USER", "")

    # ---- ports and addresses of the mesh (`<SERVICE>_PORT`, `<SERVICE>_ADDR`)
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    addrs: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Environment variable name of each field (ports and addresses excluded)."""
        return {f.metadata["env"]: f.name for f in fields(cls) if "env" in f.metadata}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default `os.environ`); a malformed number is a ValueError
        naming its variable, so a typo fails at start-up, not on the first request."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            raw = env.get(name, "").strip() if name else ""
            if not raw:
                continue
            default = f.default if f.default is not MISSING else None
            kind = int if default is None else type(default)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
        ports = dict(DEFAULT_PORTS)
        addrs: dict[str, str] = {}
        for service in DEFAULT_PORTS:
            raw = env.get(f"{service.upper()}_PORT", "").strip()
            if raw:
                try:
                    ports[service] = int(raw)
                except ValueError:
                    raise ValueError(f"{service.upper()}_PORT={raw!r} is not a valid int") from None
            addr = env.get(f"{service.upper()}_ADDR", "").strip()
            if addr:
                addrs[service] = addr
        return cls(**values, ports=ports, addrs=addrs)


_settings: Settings | None = None


def settings() -> Settings:
    """The process's settings, read from the environment on first use and then cached."""
    global _settings
    if _settings is None:
        _settings = Settings.from_env()
    return _settings


def reset_settings() -> None:
    """Forget the cached settings (tests that change the environment; nothing else should)."""
    global _settings
    _settings = None


def service_port(service: str) -> int:
    """Port a service listens on: `<SERVICE>_PORT`, else the mesh default."""
    return settings().ports[service]


def service_addr(service: str) -> str:
    """Address clients use for a service: `<SERVICE>_ADDR`, else localhost and its port.

    On Kubernetes this is `dns:///<service>-headless.<ns>.svc.cluster.local:<port>` so that
    the client's round-robin policy sees every pod.
    """
    cfg = settings()
    return cfg.addrs.get(service) or f"127.0.0.1:{cfg.ports[service]}"
