"""Export a fitted scikit-learn isolation forest to the padded arrays of
:class:`gridtwin.models._monitoring.trees.PackedTrees` (serving needs no scikit-learn).

Only voltage_anomaly still uses this packer (its owner moves it to ONNX); the random forests
and the decision tree of the other monitoring models are exported to ONNX instead."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from gridtwin.models._monitoring.trees import LEAF, PackedTrees


def _pad(trees: Sequence, values: Sequence[np.ndarray]) -> PackedTrees:
    width = max(t.node_count for t in trees)
    n_out = values[0].shape[1]
    n = len(trees)
    feature = np.zeros((n, width), np.int64)
    threshold = np.zeros((n, width))
    left = np.full((n, width), LEAF, np.int64)
    right = np.full((n, width), LEAF, np.int64)
    value = np.zeros((n, width, n_out))
    for i, (t, v) in enumerate(zip(trees, values, strict=True)):
        k = t.node_count
        leaf = t.children_left[:k] == -1
        feature[i, :k] = np.where(leaf, 0, t.feature[:k])
        threshold[i, :k] = t.threshold[:k]
        left[i, :k] = np.where(leaf, LEAF, t.children_left[:k])
        right[i, :k] = np.where(leaf, LEAF, t.children_right[:k])
        value[i, :k] = v
    depth = max(int(t.max_depth) for t in trees)
    return PackedTrees(
        {
            "feature": feature,
            "threshold": threshold,
            "left": left,
            "right": right,
            "value": value,
            "depth": np.array([depth]),
        }
    )


def pack_isolation_forest(forest: IsolationForest) -> tuple[PackedTrees, float]:
    """Isolation trees with leaf value = path length h(x) as scikit-learn computes it
    (node depth + c(n_node_samples) − 1), and c(max_samples) for the score 2^(−E[h]/c)."""
    if forest._max_features != forest.n_features_in_:
        raise ValueError("pack_isolation_forest needs max_features=1.0 (no feature subsampling)")
    trees = [e.tree_ for e in forest.estimators_]
    values = [
        (t.compute_node_depths() + _average_path_length(t.n_node_samples) - 1.0)[:, None].astype(float)
        for t in trees
    ]
    c = float(_average_path_length([forest._max_samples])[0])
    return _pad(trees, values), c
