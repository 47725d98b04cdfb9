"""Public entry points of the feature pipeline (one code path for training and serving).

* :func:`compute_features` — the vectorised core, ``(ReadingArrays, HistoryArrays) → (n, F)``.
* ``gridtwin.features.frame.features_from_dataframe`` — the offline training path (DataFrame
  in, DataFrame out), kept apart so that serving never imports pandas.
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
from gridtwin.features.protos import arrays_from_protos

__all__ = [
    "HISTORY_FIELDS",
    "HistoryArrays",
    "ReadingArrays",
    "arrays_from_protos",
    "build_history",
    "compute_features",
    "history_records",
]
