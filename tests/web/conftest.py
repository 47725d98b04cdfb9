"""One mesh with the quick models and the web service, shared by the web tests.

GRIDTWIN_TEST_REGISTRY=<folder> reuses an already trained registry instead of training the
quick profile (handy when iterating on the web tests alone)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridtwin.mesh import Mesh
from tests.conftest import cleanup_prefix, start_mesh


@pytest.fixture(scope="session")
def web_mesh(redis_url: str, request: pytest.FixtureRequest) -> Iterator[Mesh]:
    given = os.environ.get("GRIDTWIN_TEST_REGISTRY")
    registry = Path(given) if given else request.getfixturevalue("quick_registry")
    mesh = start_mesh(redis_url, registry)
    yield mesh
    mesh.stop()
    cleanup_prefix(redis_url, mesh.redis_prefix)


@pytest.fixture(scope="session")
def web_url(web_mesh: Mesh) -> str:
    return f"http://{web_mesh.address('web')}"
