"""`make run` retrains when the registry only holds models of another feature schema (the
modules refuse them), instead of starting with every model UNAVAILABLE."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

from gridtwin import launcher
from gridtwin.features.schema import SCHEMA_VERSION


def _entries(schema: str) -> dict[str, SimpleNamespace]:
    return {"voltage_anomaly": SimpleNamespace(manifest={"schema_version": schema}), "load_forecast": None}


def test_stale_registry_is_retrained(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(launcher, "list_entries", lambda: _entries("1.0.0"))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.setenv("GRIDTWIN_TRAIN_ON_START", "1")
    launcher.maybe_train()
    assert len(calls) == 1 and "train" in calls[0][0]
    assert "another feature schema" in capsys.readouterr().out


def test_current_registry_is_kept(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(launcher, "list_entries", lambda: _entries(SCHEMA_VERSION))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    launcher.maybe_train()
    assert calls == [] and "1/16 registered" in capsys.readouterr().out
