"""Feature pipeline: one code path for training (DataFrame) and serving (Redis rolling state).

* :mod:`gridtwin.features.schema` — versioned feature names.
* :mod:`gridtwin.features.arrays` — ``ReadingArrays`` / ``HistoryArrays`` containers.
* :mod:`gridtwin.features.compute` — the vectorised core and the DataFrame / proto adapters.
* :mod:`gridtwin.features.state` — ``FeatureState``, the Redis-backed rolling windows.
"""

from gridtwin.features.schema import FEATURE_NAMES, N_FEATURES, SCHEMA_VERSION

__all__ = ["FEATURE_NAMES", "N_FEATURES", "SCHEMA_VERSION"]
