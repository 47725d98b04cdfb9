"""Every environment variable the services and the library read is documented in the README's
table, so an operator never meets a setting only by reading the code; and the serving code reads
them through `gridtwin.core.config.Settings` (once per process), not `os.environ` itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gridtwin.core.config import Settings, reset_settings, settings

ROOT = Path(__file__).resolve().parents[2]
READS = re.compile(
    r"""(?:env_str|env_int|env_float|env_bool|os\.environ\.get|os\.getenv|os\.environ\.setdefault|os\.environ\[)"""
    r"""\(?\s*["']([A-Z][A-Z0-9_]+)["']"""
)
# Read from the platform, not settings of gridtwin.
PLATFORM = {"USER", "HOME", "PATH", "CI"}
# Files that may still read the environment themselves: `Settings` itself, and the `make run`
# plumbing that sets variables for the processes it starts (not a serving process).
ENV_READERS = {
    "gridtwin/core/config.py",
    "gridtwin/launcher.py",
    "gridtwin/livefeed.py",
    "gridtwin/mesh.py",
    "gridtwin/web/browser.py",  # the test/screenshot browser path
}


def sources() -> dict[str, str]:
    out = {}
    for folder in ("gridtwin", "services", "gateway"):
        for path in (ROOT / folder).rglob("*.py"):
            if "_pb2" not in path.name:
                out[str(path.relative_to(ROOT))] = path.read_text()
    return out


def documented() -> set[str]:
    return set(re.findall(r"`([A-Z][A-Z0-9_]+)`", (ROOT / "README.md").read_text()))


def test_every_variable_read_is_in_the_readme_table() -> None:
    read: set[str] = set()
    for text in sources().values():
        read.update(READS.findall(text))
    read -= PLATFORM
    assert len(read) > 10  # the scan itself works
    assert sorted(read - documented()) == []


def test_every_setting_is_in_the_readme_table() -> None:
    variables = set(Settings.variables())
    assert len(variables) > 50
    assert sorted(variables - documented()) == []


def test_serving_code_reads_the_environment_only_through_settings() -> None:
    readers = set()
    for path, text in sources().items():
        names = set(READS.findall(text))
        if names - PLATFORM or ("os.environ" in text and not names) or "os.getenv" in text:
            readers.add(path)
    # The scan finds the config module itself, so it would also find a new offender.
    assert "gridtwin/core/config.py" in readers
    assert sorted(readers - ENV_READERS) == []


def test_settings_are_read_once_and_reset_explicitly(monkeypatch) -> None:
    monkeypatch.setenv("GRIDTWIN_TARGET_PF", "0.97")
    reset_settings()
    first = settings()
    assert first.target_pf == 0.97
    monkeypatch.setenv("GRIDTWIN_TARGET_PF", "0.9")
    assert settings() is first  # cached: the environment is not re-read per call
    reset_settings()
    assert settings().target_pf == 0.9


def test_ports_addresses_and_bad_numbers() -> None:
    cfg = Settings.from_env({"GATEWAY_PORT": "6000", "INGEST_ADDR": "dns:///ingest:1", "METRICS_PORT": "0"})
    assert cfg.ports["gateway"] == 6000 and cfg.ports["ingest"] == 50052
    assert cfg.addrs == {"ingest": "dns:///ingest:1"}
    assert cfg.metrics_port == 0 and Settings.from_env({}).metrics_port is None
    with pytest.raises(ValueError, match="GRIDTWIN_MAX_CALLS"):
        Settings.from_env({"GRIDTWIN_MAX_CALLS": "many"})
