"""requirements-serving.lock (what the image installs) is current with requirements.lock, and
holds no training or test tooling."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "serving_requirements", ROOT / "docker" / "serving_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serving_lock_matches_a_fresh_generation() -> None:
    module = _module()
    assert module.OUTPUT.read_text() == module.render(), "run: make serving-requirements"


def test_serving_lock_pins_only_lock_versions_and_excludes_training() -> None:
    module = _module()
    pins = module.lock_pins()
    serving = module.lock_pins(module.OUTPUT)
    assert serving, "empty serving lock"
    for name, line in serving.items():
        assert pins[name] == line, f"{line} differs from requirements.lock"
    for name in ("torch", "tensorflow-cpu", "keras", "tf2onnx", "skl2onnx", "prophet", "pytest", "ruff"):
        assert name not in serving, name
    for name in ("grpcio", "grpcio-health-checking", "onnxruntime", "redis", "numpy", "opentelemetry-sdk"):
        assert name in serving, name
