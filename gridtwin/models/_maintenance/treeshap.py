"""Exact path-dependent TreeSHAP of a boosted tree ensemble, vectorised in numpy.

Why this engine exists beside ONNX Runtime: an ONNX graph answers the ensemble's prediction
but not its per-feature attributions, and equipment_failure's `contributing_factors` are the
classifier's SHAP values (log-odds). This module computes exactly what XGBoost's
``predict(pred_contribs=True)`` does (Lundberg et al., "From local explanations to global
understanding with explainable AI for trees", Nature MI 2020, Algorithm 2), without
XGBoost in the serving process; a parity test compares the two.

Each leaf's path is stored as ``depth`` steps (feature, threshold, whether the step is the
"yes" branch x < threshold, whether a missing value follows it, cover ratio child/parent).
Steps on the same feature share one *slot* (their fractions multiply, as TreeSHAP's
"unwind" does); padding steps are always taken with ratio 1 and get a slot of their own,
which makes them null players that change no Shapley value. For a leaf with value v and
slots k (one fraction o_k ∈ {0, 1}: the row takes every step of that feature; zero fraction
z_k: the product of the cover ratios), the SHAP value of slot k is

    φ_k = v · (o_k − z_k) · Σ_{S ⊆ slots∖k} |S|! (D − |S| − 1)! / D! · Π_{j∈S} o_j Π_{j∉S, j≠k} z_j.
"""

from __future__ import annotations

from collections.abc import Mapping
from math import factorial

import numpy as np


def shapley_table(zero: np.ndarray, value: np.ndarray) -> np.ndarray:
    """φ of every slot for every leaf and every one-fraction pattern, (leaves, 2^D, D) float32.

    The one fractions are 0 or 1, so a leaf's φ depends only on which slots the row follows:
    the table is computed once at load and a batch only looks it up. `zero` (leaves, D) are
    the slots' zero fractions, `value` (leaves,) the leaf values.
    """
    n_leaves, depth = zero.shape
    weights = np.array([factorial(s) * factorial(depth - s - 1) / factorial(depth) for s in range(depth)])
    patterns = (np.arange(2**depth)[:, None] >> np.arange(depth)[None, :]) & 1  # (patterns, slots)
    one = np.broadcast_to(patterns[None].astype(float), (n_leaves, *patterns.shape))
    zeros = np.broadcast_to(zero[:, None, :], one.shape)
    table = np.empty(one.shape)
    for k in range(depth):
        # Π_{j≠k} (z_j + o_j t) as polynomial coefficients in t; coefficient s ↔ |S| = s
        poly = np.zeros((*one.shape[:2], depth))
        poly[..., 0] = 1.0
        for j in range(depth):
            if j != k:
                poly[..., 1:] = poly[..., 1:] * zeros[..., j : j + 1] + poly[..., :-1] * one[..., j : j + 1]
                poly[..., :1] *= zeros[..., j : j + 1]
        table[..., k] = (one[..., k] - zeros[..., k]) * (poly @ weights)
    return (table * value[:, None, None]).astype(np.float32)


class TreeShap:
    """SHAP values of every feature for a batch of rows, in the ensemble's margin units."""

    def __init__(self, arrays: Mapping[str, np.ndarray], n_features: int, chunk: int = 256) -> None:
        self.feature = np.asarray(arrays["feature"], np.int64)  # (leaves, depth)
        self.threshold = np.asarray(arrays["threshold"], np.float32)
        self.yes = np.asarray(arrays["yes"], bool)
        self.missing = np.asarray(arrays["missing"], bool)
        self.pad = np.asarray(arrays["pad"], bool)
        self.slot = np.asarray(arrays["slot"], np.int64)
        ratio = np.asarray(arrays["ratio"], float)
        self.value = np.asarray(arrays["value"], float)  # (leaves,)
        self.n_features = n_features
        self.chunk = chunk
        n_leaves, depth = self.feature.shape
        self.depth = depth
        # step → slot membership (leaves, steps, slots) and each slot's zero fraction
        self.member = self.slot[:, :, None] == np.arange(depth)[None, None, :]
        self.zero = np.prod(np.where(self.member, ratio[:, :, None], 1.0), axis=1)  # (leaves, slots)
        # the feature of each slot (n_features for empty/padding slots: a dropped column)
        slot_feature = np.full((n_leaves, depth), n_features, np.int64)
        for k in range(depth):
            on = self.member[:, :, k] & ~self.pad
            has = on.any(axis=1)
            slot_feature[has, k] = self.feature[has, on[has].argmax(axis=1)]
        self.onehot = np.zeros((n_leaves * depth, n_features + 1), np.float32)
        self.onehot[np.arange(n_leaves * depth), slot_feature.ravel()] = 1.0
        self.table = shapley_table(self.zero, self.value)
        self.member_f = self.member.astype(np.float32)
        self.bits = (1 << np.arange(depth)).astype(np.int64)
        self.leaf_index = np.arange(n_leaves)[None, :]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(n, n_features) SHAP values of the rows of ``x`` (NaN = missing)."""
        x = np.asarray(x, np.float32)
        out = np.zeros((len(x), self.n_features))
        for start in range(0, len(x), self.chunk):
            out[start : start + self.chunk] = self._chunk(x[start : start + self.chunk])
        return out

    def _chunk(self, x: np.ndarray) -> np.ndarray:
        v = x[:, self.feature]  # (rows, leaves, steps)
        nan = np.isnan(v)
        with np.errstate(invalid="ignore"):
            below = v < self.threshold
        missed = ~(np.where(nan, self.missing, below == self.yes) | self.pad)
        # a slot's one fraction is 1 when no step of it is missed
        missed_by_slot = np.matmul(missed.transpose(1, 0, 2).astype(np.float32), self.member_f)
        pattern = (missed_by_slot == 0).astype(np.int64) @ self.bits  # (leaves, rows)
        phi = self.table[self.leaf_index.T, pattern]  # (leaves, rows, slots)
        return (phi.transpose(1, 0, 2).reshape(len(x), -1) @ self.onehot)[:, : self.n_features]
