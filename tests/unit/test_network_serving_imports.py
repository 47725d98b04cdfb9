"""The served networks run on ONNX Runtime: importing their serving code, in a clean
interpreter, loads no deep-learning framework and no training code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BANNED = ("tensorflow", "keras", "tf2onnx", "skl2onnx", "training")


@pytest.mark.parametrize(
    "module",
    [
        "gridtwin.models.frequency_stability",
        "gridtwin.models.load_forecast",
        "gridtwin.models.power_quality_index",
        "gridtwin.models.reactive_power",
    ],
)
def test_network_serving_imports_no_framework(module: str) -> None:
    code = f"import sys, {module}; print([m for m in {BANNED!r} if m in sys.modules])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert out.stdout.strip() == "[]"
    assert (
        "onnxruntime"
        in subprocess.run(
            [sys.executable, "-c", f"import sys, {module}; print(sorted(sys.modules))"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            check=True,
        ).stdout
    )
