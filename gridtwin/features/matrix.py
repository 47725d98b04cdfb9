"""`gridtwin.v1.FeatureMatrix` <-> numpy: the batched, columnar wire form of feature vectors."""

from __future__ import annotations

import numpy as np

from gridtwin.v1 import reading_pb2

DTYPE = np.dtype("<f8")


def to_message(matrix: np.ndarray, schema_version: str) -> reading_pb2.FeatureMatrix:
    matrix = np.ascontiguousarray(matrix, dtype=DTYPE)
    rows, cols = matrix.shape
    return reading_pb2.FeatureMatrix(
        schema_version=schema_version, rows=rows, cols=cols, values_f64le=matrix.tobytes()
    )


def from_message(message: reading_pb2.FeatureMatrix) -> np.ndarray:
    """The (rows, cols) float64 array (read-only view of the message's buffer)."""
    values = np.frombuffer(message.values_f64le, dtype=DTYPE)
    if values.size != message.rows * message.cols:
        raise ValueError(f"features: {values.size} values for a {message.rows}x{message.cols} matrix")
    return values.reshape(message.rows, message.cols)
