"""Each module service's folder declares the models it serves, and they are the contract's."""

from __future__ import annotations

import importlib

import pytest

from gridtwin.registry import MODULE_MODELS
from gridtwin.serving.model import ServedModel


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
