"""Vectorised numpy inference for packed isolation-forest trees.

Kept only while voltage_anomaly (owned elsewhere, moving to ONNX) imports it: the random
forests and the decision tree of harmonic_analysis and phase_imbalance run in ONNX Runtime
(`gridtwin.serving.runtime`). Delete this module once voltage_anomaly no longer loads it.

Training exports the fitted scikit-learn trees into dense arrays (one row per tree, padded to
the largest tree) saved as ``.npz``; serving walks all trees for all rows at once, one depth
level per numpy step. This replaces scikit-learn's per-call validation and per-tree Python
loop (≈1 ms for 100 trees) with ~depth array operations (tens of µs), and keeps the serving
process free of scikit-learn. Comparisons follow scikit-learn exactly: inputs are cast to
float32 (as ``tree.apply`` does) and a row goes left when ``x <= threshold``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

LEAF = -1


class PackedTrees:
    """Trees as padded arrays: ``feature``, ``threshold``, ``left``, ``right`` of shape
    (n_trees, max_nodes) and ``value`` of shape (n_trees, max_nodes, n_outputs).

    ``left == -1`` marks a leaf. ``value`` holds what a leaf contributes (class fractions for
    classifiers, path length for isolation trees).
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        feature = np.asarray(arrays["feature"], dtype=np.int32)
        left = np.asarray(arrays["left"], dtype=np.int32)
        right = np.asarray(arrays["right"], dtype=np.int32)
        self.threshold = np.asarray(arrays["threshold"], dtype=np.float64)
        self.value = np.asarray(arrays["value"], dtype=np.float64)
        self.depth = int(np.asarray(arrays["depth"]).reshape(-1)[0])
        self.n_trees = feature.shape[0]
        is_leaf = left == LEAF
        # Leaves point to themselves so that extra iterations are harmless (int32 indices keep a
        # large isolation forest's arrays small in the module process).
        own = np.broadcast_to(np.arange(feature.shape[1], dtype=np.int32), feature.shape)
        self._left = np.where(is_leaf, own, left)
        self._right = np.where(is_leaf, own, right)
        self._feature = np.where(is_leaf, 0, feature).astype(np.int32)
        self._is_leaf = is_leaf
        self._tree_index = np.arange(self.n_trees)[:, None]

    def leaves(self, x: NDArray[np.float64]) -> NDArray[np.int64]:
        """Leaf index of every row in every tree, shape (n_trees, n_rows)."""
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        n = x32.shape[0]
        node = np.zeros((self.n_trees, n), dtype=np.int64)
        rows = np.arange(n)[None, :]
        t = self._tree_index
        for _ in range(self.depth):
            values = x32[rows, self._feature[t, node]]
            node = np.where(values <= self.threshold[t, node], self._left[t, node], self._right[t, node])
        return node

    def mean_value(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """Mean over trees of the leaf values, shape (n_rows, n_outputs)."""
        node = self.leaves(x)
        return self.value[self._tree_index, node].mean(axis=0)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "feature": np.where(self._is_leaf, 0, self._feature),
            "threshold": self.threshold,
            "left": np.where(self._is_leaf, LEAF, self._left),
            "right": np.where(self._is_leaf, LEAF, self._right),
            "value": self.value,
            "depth": np.array([self.depth]),
        }


def load_packed(arrays: Mapping[str, np.ndarray], prefix: str = "") -> PackedTrees:
    """PackedTrees from an npz mapping whose keys carry ``prefix`` (several models per file)."""
    keys = ("feature", "threshold", "left", "right", "value", "depth")
    return PackedTrees({k: arrays[prefix + k] for k in keys})
