"""Serving code of the monitoring module's models, by Assessment field name."""

from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {}
