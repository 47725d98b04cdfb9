"""One mesh with the quick models and the web service, shared by the web tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gridtwin.mesh import Mesh
from tests.conftest import cleanup_prefix, start_mesh


@pytest.fixture(scope="session")
def web_mesh(redis_url: str, quick_registry: Path) -> Iterator[Mesh]:
    mesh = start_mesh(redis_url, quick_registry)
    yield mesh
    mesh.stop()
    cleanup_prefix(redis_url, mesh.redis_prefix)


@pytest.fixture(scope="session")
def web_url(web_mesh: Mesh) -> str:
    return f"http://{web_mesh.address('web')}"
