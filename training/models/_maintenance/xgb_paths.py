"""Root-to-leaf paths of an XGBoost booster for :class:`gridtwin.models._maintenance.treeshap.TreeShap`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np


def _leaf_paths(node: dict, names: Sequence[str] | None, path: list, out: list) -> None:
    if "leaf" in node:
        out.append((list(path), float(node["leaf"])))
        return
    split = node["split"]
    feature = names.index(split) if names else int(str(split).lstrip("f"))
    children = {c["nodeid"]: c for c in node["children"]}
    for child_id, is_yes in ((node["yes"], True), (node["no"], False)):
        child = children[child_id]
        step = (
            feature,
            float(node["split_condition"]),
            is_yes,
            node.get("missing", node["yes"]) == child_id,
            float(child["cover"]) / float(node["cover"]),
        )
        _leaf_paths(child, names, [*path, step], out)


def pack_paths(booster: Any) -> dict[str, np.ndarray]:
    """Padded per-leaf path arrays of every tree (see TreeShap for their meaning)."""
    booster = booster.get_booster() if hasattr(booster, "get_booster") else booster
    names = booster.feature_names
    leaves: list = []
    for dump in booster.get_dump(dump_format="json", with_stats=True):
        _leaf_paths(json.loads(dump), names, [], leaves)
    depth = max(1, max(len(p) for p, _ in leaves))
    n = len(leaves)
    arrays = {
        "feature": np.zeros((n, depth), np.int64),
        "threshold": np.zeros((n, depth), np.float32),
        "yes": np.zeros((n, depth), bool),
        "missing": np.zeros((n, depth), bool),
        "pad": np.ones((n, depth), bool),
        "ratio": np.ones((n, depth)),
        "slot": np.tile(np.arange(depth), (n, 1)),
        "value": np.zeros(n),
    }
    for i, (path, value) in enumerate(leaves):
        arrays["value"][i] = value
        slots: dict[int, int] = {}
        for s, (feature, threshold, yes, missing, ratio) in enumerate(path):
            arrays["feature"][i, s] = feature
            arrays["threshold"][i, s] = threshold
            arrays["yes"][i, s] = yes
            arrays["missing"][i, s] = missing
            arrays["pad"][i, s] = False
            arrays["ratio"][i, s] = ratio
            arrays["slot"][i, s] = slots.setdefault(feature, len(slots))
    return arrays
