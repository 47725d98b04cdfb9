"""Tree ensembles evaluated in numpy, all trees at once.

A fitted sklearn forest is flattened into padded per-tree node arrays; prediction walks all
trees in lock-step for `max_depth` steps (leaves point to themselves), which costs a few
vectorised numpy operations per level instead of sklearn's per-call validation and joblib
dispatch (≈ 1 ms single-row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FlatForest:
    feature: np.ndarray  # (n_trees, n_nodes) int64, 0 at leaves
    threshold: np.ndarray  # (n_trees, n_nodes)
    left: np.ndarray  # (n_trees, n_nodes) int64, self at leaves
    right: np.ndarray
    value: np.ndarray  # (n_trees, n_nodes, n_outputs): class fractions or regression means
    depth: int

    @classmethod
    def from_sklearn(cls, forest: object) -> FlatForest:
        trees = [e.tree_ for e in forest.estimators_]
        n_nodes = max(t.node_count for t in trees)
        n_out = trees[0].value.shape[1] * trees[0].value.shape[2]
        n_t = len(trees)
        feat = np.zeros((n_t, n_nodes), np.int64)
        thr = np.zeros((n_t, n_nodes))
        left = np.tile(np.arange(n_nodes), (n_t, 1))
        right = left.copy()
        value = np.zeros((n_t, n_nodes, n_out))
        for i, t in enumerate(trees):
            m = t.node_count
            inner = t.children_left[:m] >= 0
            feat[i, :m] = np.where(inner, t.feature[:m], 0)
            thr[i, :m] = np.where(inner, t.threshold[:m], np.inf)
            left[i, :m] = np.where(inner, t.children_left[:m], np.arange(m))
            right[i, :m] = np.where(inner, t.children_right[:m], np.arange(m))
            v = t.value[:m].reshape(m, -1)
            if trees[0].value.shape[2] > 1:  # classifier: normalise counts to fractions
                v = v / np.maximum(v.sum(1, keepdims=True), 1e-12)
            value[i, :m] = v
        depth = max(int(e.get_depth()) for e in forest.estimators_)
        return cls(feat, thr, left, right, value, depth)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {
            f"{prefix}feature": self.feature,
            f"{prefix}threshold": self.threshold,
            f"{prefix}left": self.left,
            f"{prefix}right": self.right,
            f"{prefix}value": self.value,
            f"{prefix}depth": np.array([self.depth]),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray], prefix: str) -> FlatForest:
        return cls(
            a[f"{prefix}feature"].astype(np.int64),
            a[f"{prefix}threshold"].astype(float),
            a[f"{prefix}left"].astype(np.int64),
            a[f"{prefix}right"].astype(np.int64),
            a[f"{prefix}value"].astype(float),
            int(np.asarray(a[f"{prefix}depth"]).ravel()[0]),
        )

    def __post_init__(self) -> None:
        # flat (tree-major) copies with global child indices: one 1-D gather per array and level
        n_t, n_nodes = self.feature.shape
        offset = (np.arange(n_t) * n_nodes)[:, None]
        object.__setattr__(self, "_f", self.feature.ravel())
        object.__setattr__(self, "_thr", self.threshold.ravel())
        object.__setattr__(self, "_l", (self.left + offset).ravel())
        object.__setattr__(self, "_r", (self.right + offset).ravel())
        object.__setattr__(self, "_v", self.value.reshape(n_t * n_nodes, -1))
        object.__setattr__(self, "_roots", offset.ravel())

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Mean over trees of the leaf values, (n, n_outputs). `x` must be NaN-free."""
        n, n_t = len(x), self.feature.shape[0]
        node = np.repeat(self._roots, n)  # (n_trees * n,), tree-major
        flat_x = np.ascontiguousarray(x, dtype=float).ravel()
        base = np.tile(np.arange(n) * x.shape[1], n_t)
        for _ in range(self.depth):
            go_left = flat_x[base + self._f[node]] <= self._thr[node]
            node = np.where(go_left, self._l[node], self._r[node])
        return self._v[node].reshape(n_t, n, -1).mean(0)
