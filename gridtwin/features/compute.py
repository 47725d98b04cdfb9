"""Public entry points of the feature pipeline (one code path for training and serving).

* :func:`compute_features` — the vectorised core, ``(ReadingArrays, HistoryArrays) → (n, F)``.
* :func:`features_from_dataframe` — offline training path (DataFrame in, DataFrame out).
* :func:`arrays_from_protos` — serving path adapter for ``gridtwin.v1.Reading`` messages.
"""

from gridtwin.features.arrays import (
    HISTORY_FIELDS,
    HistoryArrays,
    ReadingArrays,
    build_history,
    history_records,
)
from gridtwin.features.core import compute_features
from gridtwin.features.frame import arrays_from_dataframe, features_from_dataframe
from gridtwin.features.protos import arrays_from_protos

__all__ = [
    "HISTORY_FIELDS",
    "HistoryArrays",
    "ReadingArrays",
    "arrays_from_dataframe",
    "arrays_from_protos",
    "build_history",
    "compute_features",
    "features_from_dataframe",
    "history_records",
]
