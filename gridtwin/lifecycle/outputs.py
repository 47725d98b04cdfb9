"""A model's outputs as drift columns: the numbers of its answers, named `output.<field>`.

The monitored outputs of a model are the singular numeric fields of its answer message (for
voltage_anomaly: `anomaly_detected`, `anomaly_score`, …) and the answer's severity, taken from
answers the model gave with numbers (status OK or DEGRADED). Their reference is written at
registration from the model's answers to its training data (training.lifecycle.reference);
online, the modules bin the champion's answers like its inputs (gridtwin.serving.versions), so
PSI and KS are computed per input and per output over the same window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from google.protobuf.descriptor import FieldDescriptor

from gridtwin.v1 import assessment_pb2

PREFIX = "output."
ANSWERED = (assessment_pb2.OK, assessment_pb2.DEGRADED)
NUMERIC = {
    FieldDescriptor.TYPE_DOUBLE,
    FieldDescriptor.TYPE_FLOAT,
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_BOOL,
    FieldDescriptor.TYPE_ENUM,
}


@lru_cache(maxsize=64)
def _fields(descriptor: Any) -> tuple[str, ...]:
    return tuple(
        f.name
        for f in descriptor.fields
        if f.type in NUMERIC and not f.is_repeated and f.containing_oneof is None
    )


def output_values(answers: Sequence[Any]) -> dict[str, np.ndarray]:
    """`output.<field>` → one value per answer (NaN where the model gave no numbers).

    One matrix built from Python floats: it runs after every model call (drift monitoring),
    where a numpy array and `where` per field cost more than the answers' own fields."""
    if not answers:
        return {}
    names = _fields(answers[0].DESCRIPTOR)
    blank = [math.nan] * (len(names) + 1)
    rows = [
        [float(getattr(a, name)) for name in names] + [float(a.info.severity)]
        if a.info.status in ANSWERED
        else blank
        for a in answers
    ]
    matrix = np.array(rows, dtype=np.float64).reshape(len(answers), len(names) + 1)
    out = {PREFIX + name: matrix[:, j] for j, name in enumerate(names)}
    out[PREFIX + "severity"] = matrix[:, len(names)]
    return out


def is_output(column: str) -> bool:
    return column.startswith(PREFIX)
