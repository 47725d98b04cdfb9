"""A registered version's served answers for held-out readings, in this process: the model's
own serving code (`default_factory`), the features as the features service computes them.
Only for models that keep no per-meter state (no `prepare`): the others need the mesh's Redis
state to answer as served (training/serving_eval runs them through the mesh)."""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.lifecycle.outputs import output_values
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModuleBatch, ServedModel
from gridtwin.serving.module import default_factory
from gridtwin.v1 import assessment_pb2
from training.serving_eval.answers import flatten, to_protos


def stateless(name: str, entry: RegistryEntry) -> bool:
    """True when the model answers from the batch alone (it does not override `prepare`)."""
    model = default_factory(name)(entry)  # type: ignore[misc]
    return type(model).prepare is ServedModel.prepare


class ServedInputs:
    """The readings as protos and their feature matrix, in the readings' order: built once (on
    first use) for every model served over the same readings (the drift references of all)."""

    def __init__(self, readings: pd.DataFrame, features: pd.DataFrame | None = None) -> None:
        self.readings = readings
        self.features = features  # features_from_dataframe(readings), when already computed

    @cached_property
    def protos(self) -> list:
        return to_protos(self.readings)

    @cached_property
    def matrix(self) -> np.ndarray:
        # The feature table comes back sorted by meter and time; back into the readings' order.
        features = features_from_dataframe(self.readings) if self.features is None else self.features
        return features.loc[self.readings.index, list(FEATURE_NAMES)].to_numpy(dtype=np.float64)


def served_answers(
    name: str, entry: RegistryEntry, readings: pd.DataFrame, inputs: ServedInputs | None = None
) -> list:
    """The served answer messages of `entry` for `readings`, in the readings' order."""
    inputs = inputs or ServedInputs(readings)
    model = default_factory(name)(entry)  # type: ignore[misc]
    batch = ModuleBatch(
        readings=inputs.protos,
        features=inputs.matrix,
        feature_names=tuple(FEATURE_NAMES),
        schema_version=SCHEMA_VERSION,
    )
    return model.predict(batch)


def served_frame(name: str, entry: RegistryEntry, readings: pd.DataFrame) -> pd.DataFrame:
    """`served_answers` flattened like the serving evaluation's rows (`<model>.<field>`)."""
    protos = to_protos(readings)
    rows = []
    for reading, answer in zip(protos, served_answers(name, entry, readings), strict=True):
        assessment = assessment_pb2.Assessment(meter_id=reading.meter_id, timestamp=reading.timestamp)
        getattr(assessment, name).CopyFrom(answer)
        rows.append(flatten(assessment))
    return pd.DataFrame(rows)


def served_outputs(
    name: str, entry: RegistryEntry, readings: pd.DataFrame, inputs: ServedInputs | None = None
) -> dict[str, np.ndarray] | None:
    """The model's output columns (gridtwin.lifecycle.outputs) on `readings`; None for a model
    that keeps per-meter state (its answers here would not be the served ones)."""
    if not stateless(name, entry):
        return None
    return output_values(served_answers(name, entry, readings, inputs))
