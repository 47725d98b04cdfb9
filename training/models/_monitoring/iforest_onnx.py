"""A fitted scikit-learn IsolationForest as one ONNX TreeEnsembleRegressor node.

skl2onnx converts an isolation forest into ~3,000 nodes (one tree ensemble per tree plus the
per-tree path-length arithmetic), which costs ONNX Runtime ~10 ms per call even for one row.
The forest's score only needs the sum over trees of each reached leaf's path length
h = depth + c(n_leaf) − 1 (Liu, Ting & Zhou 2008; scikit-learn's ``score_samples``), so every
tree goes into a single ``TreeEnsembleRegressor`` with that sum as its output
(``path_length_sum``, float32, shape (n, 1)); the score is s = 2^(−sum / (n_trees · c(ψ))).
Inputs are float32, as in scikit-learn's own trees; thresholds are rounded down to float32
(``float32_at_or_below``: scikit-learn compares float32 features with float64 thresholds, and
round-to-nearest sends quantised readings that sit just above a threshold the wrong way). A
parity test checks the score against ``score_samples``.
"""

from __future__ import annotations

import os
from pathlib import Path

from onnx import TensorProto, helper
from sklearn.ensemble import IsolationForest
from sklearn.ensemble._iforest import _average_path_length

from training.onnx_export import TARGET_OPSET, float32_at_or_below, save

OUTPUT = "path_length_sum"


def isolation_forest_to_onnx(forest: IsolationForest, path: str | os.PathLike[str]) -> tuple[Path, float]:
    """Write the forest's single-node graph to ``path``; returns (path, n_trees · c(ψ))."""
    if forest._max_features != forest.n_features_in_:
        raise ValueError("isolation_forest_to_onnx needs max_features=1.0 (no feature subsampling)")
    a: dict[str, list] = {k: [] for k in ("tid", "nid", "fid", "val", "mode", "true", "false", "miss")}
    t_tid, t_nid, t_w = [], [], []
    for k, est in enumerate(forest.estimators_):
        tree = est.tree_
        leaf_value = tree.compute_node_depths() + _average_path_length(tree.n_node_samples) - 1.0
        for i in range(tree.node_count):
            left, right = int(tree.children_left[i]), int(tree.children_right[i])
            leaf = left == -1
            a["tid"].append(k)
            a["nid"].append(i)
            a["fid"].append(0 if leaf else int(tree.feature[i]))
            a["val"].append(0.0 if leaf else float32_at_or_below(tree.threshold[i]))
            a["mode"].append("LEAF" if leaf else "BRANCH_LEQ")
            a["true"].append(0 if leaf else left)
            a["false"].append(0 if leaf else right)
            a["miss"].append(0)
            if leaf:
                t_tid.append(k)
                t_nid.append(i)
                t_w.append(float(leaf_value[i]))
    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["X"],
        [OUTPUT],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        nodes_treeids=a["tid"],
        nodes_nodeids=a["nid"],
        nodes_featureids=a["fid"],
        nodes_values=a["val"],
        nodes_modes=a["mode"],
        nodes_truenodeids=a["true"],
        nodes_falsenodeids=a["false"],
        nodes_missing_value_tracks_true=a["miss"],
        target_treeids=t_tid,
        target_nodeids=t_nid,
        target_ids=[0] * len(t_tid),
        target_weights=t_w,
    )
    graph = helper.make_graph(
        [node],
        "isolation_forest_path_length",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, forest.n_features_in_])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in TARGET_OPSET.items()],
        producer_name="gridtwin",
    )
    denominator = len(forest.estimators_) * float(_average_path_length([forest._max_samples])[0])
    return save(model, path), denominator
