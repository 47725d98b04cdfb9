"""Every environment variable the services and the library read is documented in the README's
table, so an operator never meets a setting only by reading the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READS = re.compile(
    r"""(?:env_str|env_int|env_float|env_bool|os\.environ\.get|os\.getenv|os\.environ\.setdefault|os\.environ\[)"""
    r"""\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# Read from the platform, not settings of gridtwin.
PLATFORM = {"USER", "HOME", "PATH", "CI"}


def variables_read() -> set[str]:
    names: set[str] = set()
    for folder in ("gridtwin", "services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            if "_pb2" in path.name:
                continue
            names.update(READS.findall(path.read_text()))
    return names - PLATFORM


def test_every_variable_read_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", readme))
    read = variables_read()
    assert len(read) > 30  # the scan itself works
    assert sorted(read - documented) == []
