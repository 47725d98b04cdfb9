"""Shared fixtures: a real Redis, a unique key prefix per test run, and the mesh as real
processes on free ports."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import redis

from gridtwin.core.config import reset_settings
from gridtwin.mesh import LocalRedis, Mesh, delete_redis_prefix

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Settings are read once per process; each test starts (and leaves) with none cached, so
    a test that sets variables with monkeypatch before its code runs sees them."""
    reset_settings()
    yield
    reset_settings()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """REDIS_URL if a server answers there, else a private redis-server for the session."""
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        yield url
        return
    except redis.RedisError:
        pass
    local = LocalRedis().start()
    try:
        yield local.url
    finally:
        local.stop()


def cleanup_prefix(url: str, prefix: str) -> None:
    delete_redis_prefix(url, prefix)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    yield prefix
    cleanup_prefix(redis_url, prefix)


@pytest.fixture(scope="session")
def empty_registry() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="gridtwin-empty-registry-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_mesh(redis_url: str, registry: Path, **env: str) -> Mesh:
    prefix = f"test-{uuid.uuid4().hex[:10]}:"
    mesh = Mesh(redis_url=redis_url, redis_prefix=prefix, registry=registry, extra_env=env)
    mesh.start()
    try:
        mesh.wait_healthy(timeout=180)
    except Exception:
        mesh.stop()
        cleanup_prefix(redis_url, prefix)
        raise
    return mesh


@pytest.fixture(scope="module")
def mesh(redis_url: str, empty_registry: Path) -> Iterator[Mesh]:
    """The whole mesh with an empty model registry (every model UNAVAILABLE)."""
    m = start_mesh(redis_url, empty_registry)
    yield m
    m.stop()
    cleanup_prefix(redis_url, m.redis_prefix)


@pytest.fixture
def gateway(mesh: Mesh) -> Iterator[object]:
    from gridtwin.v1 import gateway_pb2_grpc

    with grpc.insecure_channel(mesh.address("gateway")) as channel:
        yield gateway_pb2_grpc.GridTwinStub(channel)


@pytest.fixture(scope="session")
def quick_registry() -> Iterator[Path]:
    """Every model trained once with the quick profile into a private registry (the same
    pipeline as `gridtwin train --profile quick`); model tests read their entries from it."""
    from training.pipeline import run

    path = Path(tempfile.mkdtemp(prefix="gridtwin-quick-registry-"))
    reports = Path(tempfile.mkdtemp(prefix="gridtwin-quick-reports-"))
    code = run(profile="quick", registry=str(path), report_dir=reports)
    assert code == 0, "quick training failed for at least one model (see output above)"
    yield path
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(reports, ignore_errors=True)
