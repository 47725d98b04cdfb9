"""Serving code of the energy module's models, by Assessment field name."""

from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {}
