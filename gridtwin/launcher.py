"""`make run`: Redis, every service, the gateway on :50051 and a live simulated feeder.

Redis: the server at REDIS_URL if one answers, else a private `redis-server` started here.
Models: trained with the quick profile on first start when the registry is empty (set
GRIDTWIN_TRAIN_ON_START=0 to skip; unregistered models answer UNAVAILABLE). Live feed: the
simulator streams its feeder into the gateway through AssessStream (GRIDTWIN_LIVE_FEED=0 to
switch it off; GRIDTWIN_LIVE_SPEED sets the acceleration, GRIDTWIN_LIVE_SCENARIO the scenario).
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

import redis

from gridtwin.core.config import env_float, env_int, env_str
from gridtwin.features.schema import SCHEMA_VERSION
from gridtwin.mesh import ROOT, LocalRedis, Mesh
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


async def live_feed(address: str) -> None:
    if env_str("GRIDTWIN_LIVE_FEED", "1") == "0":
        say("live feed off (GRIDTWIN_LIVE_FEED=0); the gateway is waiting for your calls")
        await asyncio.Event().wait()
    if importlib.util.find_spec("gridsim.live") is None:
        say("live feed: the simulator is not installed in this checkout; waiting for calls")
        await asyncio.Event().wait()
    from gridtwin.livefeed import stream_feeder

    await stream_feeder(
        address,
        scenario=env_str("GRIDTWIN_LIVE_SCENARIO", "normal"),
        meters=env_int("GRIDTWIN_LIVE_METERS", 12),
        speed=env_float("GRIDTWIN_LIVE_SPEED", 60.0),
    )


def main() -> None:
    url, local_redis = ensure_redis(env_str("REDIS_URL", "redis://127.0.0.1:6379/0"))
    os.environ["REDIS_URL"] = url  # the live feed (in this process) writes to the same Redis
    maybe_train()
    mesh = Mesh(
        ports=Mesh.default_ports(),
        redis_url=url,
        registry=registry_dir().resolve(),
        log_dir=ROOT / "var" / "logs",
    )
    say(f"starting {len(mesh.ports)} services; logs in {mesh.log_dir}")
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
        say(f"try: grpcurl -plaintext {gateway} list   |   .venv/bin/python examples/assess.py")
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
