"""`make run`: Redis, every service, the gateway on :50051 and a live simulated feeder.

Redis: the server at REDIS_URL if one answers, else a private `redis-server` started here.
Models: trained with the quick profile on first start when the registry is empty (set
GRIDTWIN_TRAIN_ON_START=0 to skip; unregistered models answer UNAVAILABLE). Live feed: the
simulator streams its feeder into the gateway through AssessStream (GRIDTWIN_LIVE_FEED=0 to
switch it off; GRIDTWIN_LIVE_SPEED sets the acceleration, GRIDTWIN_LIVE_SCENARIO the scenario).
Security: `GRIDTWIN_AUTH=off` (default) binds every service to 127.0.0.1 only and says loudly
that anyone on this machine can call everything; `GRIDTWIN_AUTH=on` uses GRIDTWIN_JWT_SECRET
(or makes a random one for this run) and prints an admin token. `GRIDTWIN_TLS=on` makes a
development CA and certificates under var/certs/ (once) and runs the mesh with mutual TLS.
Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from gridtwin.core.config import env_float, env_int, env_str, reset_settings
from gridtwin.features.schema import SCHEMA_VERSION
from gridtwin.history.config import database_url, retention_days, safe_url, stream_maxlen
from gridtwin.mesh import ROOT, LocalRedis, Mesh, tls_files
from gridtwin.registry import list_entries, registry_dir


def say(message: str) -> None:
    print(f"[gridtwin] {message}", flush=True)


def ensure_redis(url: str) -> tuple[str, LocalRedis | None]:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        say(f"Redis: using the server at {url}")
        return url, None
    except redis.RedisError:
        pass
    try:
        local = LocalRedis().start()
    except FileNotFoundError:
        say(
            f"Redis: nothing answers at {url} and redis-server is not installed. Install Redis "
            "(e.g. `apt-get install redis-server`) or point REDIS_URL at a server."
        )
        raise SystemExit(1) from None
    say(f"Redis: nothing answered at {url}; started a private redis-server at {local.url} (no persistence)")
    return local.url, local


def maybe_train() -> None:
    entries = list_entries()
    # A model trained on another feature schema is refused by the modules (UNAVAILABLE):
    # count only the ones the services can serve, and retrain when none can.
    usable = [
        e for e in entries.values() if e is not None and e.manifest.get("schema_version") == SCHEMA_VERSION
    ]
    stale = sum(e is not None for e in entries.values()) - len(usable)
    if usable:
        say(f"models: {len(usable)}/16 registered in {registry_dir()}")
        if stale:
            say(f"models: {stale} trained on another feature schema answer UNAVAILABLE until retrained")
        say("retrain with the full profile: `make train PROFILE=full` (running services hot-swap them)")
        return
    if stale:
        say(
            f"models: the {stale} registered were trained on another feature schema (serving {SCHEMA_VERSION})"
        )
    if env_str("GRIDTWIN_TRAIN_ON_START", "1") == "0" or importlib.util.find_spec("training") is None:
        say("models: none usable; their fields will answer UNAVAILABLE")
        return
    say("models: none usable; training the quick profile (a few minutes, once)")
    subprocess.run(
        [sys.executable, "-m", "gridtwin.cli", "train", "--profile", "quick"], cwd=ROOT, check=False
    )
    say("full models: `make train PROFILE=full` (services hot-swap them when they land)")


def configure_auth() -> None:
    """Auth off: localhost only, loudly. Auth on: a key (random for this run if none is set)
    and an admin token printed for the user and used by the live feed."""
    from gridtwin.security.auth import auth_enabled
    from gridtwin.security.roles import Role
    from gridtwin.security.tokens import KeyConfigError, Keys, create_token, parse_ttl

    if not auth_enabled():
        os.environ.setdefault("GRIDTWIN_BIND_HOST", "127.0.0.1")
        reset_settings()  # settings are read once per process: re-read after changing the env
        say("!" * 78)
        say("AUTH IS OFF (GRIDTWIN_AUTH=off): every caller is admin. The services listen on")
        say(f"{os.environ['GRIDTWIN_BIND_HOST']} only; GRIDTWIN_AUTH=on for tokens and roles.")
        say("!" * 78)
        return
    hint = "gridtwin token create --role viewer"
    try:
        keys = Keys.from_env()
    except KeyConfigError:
        os.environ["GRIDTWIN_JWT_SECRET"] = local_secret(ROOT / "var" / "jwt-secret")
        reset_settings()
        keys = Keys.from_env()
        hint = "GRIDTWIN_JWT_SECRET=$(cat var/jwt-secret) .venv/bin/gridtwin token create --role viewer"
        say("auth on: no GRIDTWIN_JWT_SECRET set, using the local one in var/jwt-secret")
    token = create_token(Role.ADMIN, "make-run", keys, parse_ttl("8h"))
    os.environ["GRIDTWIN_TOKEN"] = token  # the live feed in this process sends it
    reset_settings()
    say(f"auth on: admin token (8 h); more with `{hint}`:")
    print(token, flush=True)


def local_secret(path: Path) -> str:
    """A random HS256 secret kept in `path` (owner-only), made on first use, so tokens made
    with the CLI keep working across `make run`s on this machine."""
    if path.exists():
        return path.read_text().strip()
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret + "\n")
    return secret


def configure_tls() -> Path | None:
    """GRIDTWIN_TLS=on: development certificates (made once) and mutual TLS in the mesh."""
    if env_str("GRIDTWIN_TLS", "off").lower() not in ("on", "1", "true"):
        return None
    from gridtwin.security.certs import create_all

    folder = ROOT / "var" / "certs"
    if not (folder / "client.crt").exists():
        create_all(folder)
        say(f"TLS: made a development CA and certificates in {folder}")
    os.environ.update(tls_files(folder, "client"))  # the live feed is a mesh client
    reset_settings()
    say(f"TLS on: mutual TLS between the services, CA {folder / 'ca.crt'}")
    return folder


async def live_feed(address: str) -> None:
    if env_str("GRIDTWIN_LIVE_FEED", "1") == "0":
        say("live feed off (GRIDTWIN_LIVE_FEED=0); the gateway is waiting for your calls")
        await asyncio.Event().wait()
    if importlib.util.find_spec("gridsim.live") is None:
        say("live feed: the simulator is not installed in this checkout; waiting for calls")
        await asyncio.Event().wait()
    from gridtwin.livefeed import stream_feeder
    from gridtwin.security.client import call_metadata, gateway_credentials

    await stream_feeder(
        address,
        credentials=gateway_credentials(),
        metadata=call_metadata(),
        scenario=env_str("GRIDTWIN_LIVE_SCENARIO", "normal"),
        meters=env_int("GRIDTWIN_LIVE_METERS", 12),
        speed=env_float("GRIDTWIN_LIVE_SPEED", 60.0),
    )


def history_line(mesh: Mesh) -> str:
    """Where history goes: the database, the stream, the retention."""
    retention = retention_days()
    kept = f"{retention} days" if retention > 0 else "forever"
    hint = (
        ""
        if mesh.database_url.startswith("postgresql")
        else " (DATABASE_URL=postgresql+psycopg://… for PostgreSQL)"
    )
    return (
        f"history: {safe_url(mesh.database_url)}{hint}; fed by the stream {mesh.redis_prefix}assessments "
        f"(cap ~{stream_maxlen():,} entries), kept {kept} (HISTORY_RETENTION_DAYS)"
    )


def main() -> None:
    url, local_redis = ensure_redis(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))
    os.environ["REDIS_URL"] = url  # the live feed (in this process) writes to the same Redis
    reset_settings()
    maybe_train()
    configure_auth()
    tls_dir = configure_tls()
    mesh = Mesh(
        ports=Mesh.default_ports(),
        redis_url=url,
        registry=registry_dir().resolve(),
        log_dir=ROOT / "var" / "logs",
        tls_dir=tls_dir,
        database_url=database_url(),
    )
    say(f"starting {len(mesh.ports)} services; logs in {mesh.log_dir}")
    say(history_line(mesh))
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        mesh.start()
        started = time.monotonic()
        mesh.wait_healthy(timeout=180)
        say(f"all services SERVING after {time.monotonic() - started:.1f} s:")
        for service, port in mesh.ports.items():
            say(f"  {service:<12} 127.0.0.1:{port}")
        gateway = mesh.address("gateway")
        if "web" in mesh.ports:
            web = f"http://localhost:{mesh.ports['web']}"
            say(f"dashboard: {web}/   |   REST: curl {web}/v1/meters   |   OpenAPI: {web}/openapi.json")
        if tls_dir is None:
            say(f"try: grpcurl -plaintext {gateway} list   |   .venv/bin/python examples/assess.py")
        else:
            say(f"try: grpcurl -cacert {tls_dir}/ca.crt {gateway} list")
        say(
            "metrics: http://127.0.0.1:<gRPC port + 1000>/metrics, e.g. gateway :"
            + str(mesh.metrics_ports["gateway"])
        )
        asyncio.run(live_feed(gateway))
    except KeyboardInterrupt:
        pass
    finally:
        say("stopping…")
        mesh.stop()
        if local_redis is not None:
            local_redis.stop()
        say("stopped")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
