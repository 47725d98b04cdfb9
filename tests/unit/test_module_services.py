"""Each module service's folder declares the models it serves, and they are the contract's."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from gridtwin.registry import MODULE_MODELS
from gridtwin.serving.model import ServedModel

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", sorted(MODULE_MODELS))
def test_module_serves_exactly_its_four_models(module: str) -> None:
    factories = importlib.import_module(f"services.{module}.models").FACTORIES
    assert tuple(factories) == MODULE_MODELS[module]
    for name, cls in factories.items():
        assert issubclass(cls, ServedModel)
        assert cls.name == name


def test_servicer_refuses_a_model_of_another_module() -> None:
    from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
    from gridtwin.serving.module import ModuleServicer

    stray = importlib.import_module("services.energy.models").FACTORIES
    with pytest.raises(ValueError, match="does not serve"):
        ModuleServicer("monitoring", stray, tuple(FEATURE_NAMES), SCHEMA_VERSION)


def test_degraded_and_unavailable_answers_say_why() -> None:
    from gridtwin.registry import RegistryEntry
    from gridtwin.v1 import assessment_pb2

    class Probe(ServedModel):
        name = "voltage_anomaly"

        def predict(self, batch):  # pragma: no cover - not called
            return []

    model = Probe(RegistryEntry("voltage_anomaly", ROOT, {"version": "v1"}))
    degraded = model.degraded("no baseline yet", assessment_pb2.ADVISORY)
    assert (degraded.status, degraded.severity, degraded.detail) == (
        assessment_pb2.DEGRADED,
        assessment_pb2.ADVISORY,
        "no baseline yet",
    )
    assert model.unavailable("not a transformer meter").status == assessment_pb2.UNAVAILABLE
    with pytest.raises(ValueError, match="must say why"):
        model.degraded("")


def test_no_model_changes_a_status_after_building_its_info() -> None:
    """A status is chosen when the header is built (info/degraded/unavailable), not patched."""
    patched = [
        f"{path.name}:{n}"
        for path in (ROOT / "gridtwin" / "models").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\binfo\.status\s*=", line)
    ]
    assert patched == []
