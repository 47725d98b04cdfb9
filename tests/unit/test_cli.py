"""The `gridtwin` command dispatches every subcommand (simulate from gridsim, forecast, assets)."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridtwin.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_subcommand():
    out = run("--help").stdout
    for command in ("train", "simulate", "dataset", "forecast", "assets"):
        assert command in out


def test_simulate_writes_a_scenario(tmp_path):
    target = tmp_path / "fault.parquet"
    result = run(
        "simulate",
        "--scenario",
        "fault",
        "--meters",
        "3",
        "--hours",
        "1",
        "--seed",
        "1",
        "--out",
        str(target),
    )
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(target)
    assert frame["meter_id"].nunique() == 3
    assert {"voltage_a", "current_b", "active_power_c", "frequency"} <= set(frame.columns)
