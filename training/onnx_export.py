"""Export fitted estimators to ONNX for serving (gridtwin.serving.runtime).

Classifiers are exported without ZipMap, so probabilities come back as one (n, n_classes)
float32 array instead of a list of dicts. Inputs are float32, as in scikit-learn's own trees
(``tree.apply`` casts to float32) and XGBoost's (``DMatrix`` holds float32), so tree splits
agree exactly with the training library.

scikit-learn goes through skl2onnx; XGBoost boosters through onnxmltools
(``convert_xgboost``), which knows ``binary:logistic`` and ``reg:*`` objectives. A
``survival:aft`` booster (equipment_failure's time to failure) is exported as its margin
(a tree-ensemble regressor) followed by ``Exp``: XGBoost predicts ``exp(margin)`` for AFT.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

# ai.onnx 17 and ai.onnx.ml 3 are what onnxruntime 1.2x runs natively for every converter
# used here (trees, isolation forest, SVM, linear, scalers, pipelines).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# onnxmltools' XGBoost converter supports opsets up to 15 (ai.onnx.ml 1 tree ensembles).
XGB_OPSET = 15


def float32_at_or_below(threshold: float) -> float:
    """The largest float32 ≤ ``threshold``: the split value an ONNX tree node needs to agree
    with scikit-learn's. scikit-learn compares a float32 feature with a float64 threshold
    (``x <= t`` in double); ONNX Runtime compares float32 with float32. Rounding t to the
    nearest float32 can round it up onto a feature value just above it, and a row with
    exactly that value (quantised readings land there often) then goes left in ONNX, right in
    scikit-learn. With the threshold rounded down, for every float32 x, x <= t ⟺ x <= t32.
    (skl2onnx does the same for the trees it converts: ``sklearn_threshold``.)"""
    t32 = np.float32(threshold)
    if t32 > threshold:
        t32 = np.nextafter(t32, np.float32(-np.inf))
    return float(t32)


def _final_estimator(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def sklearn_to_onnx(
    estimator: Any, n_features: int, path: str | os.PathLike[str], options: dict | None = None
) -> Path:
    """Convert a fitted scikit-learn estimator (or Pipeline) and write it to ``path``.

    A classifier (or a Pipeline ending in one) is exported without ZipMap: its second
    output is a float32 tensor (class probabilities, or an SVC's decision values).
    """
    from skl2onnx import to_onnx
    from sklearn.base import is_classifier

    sample = np.zeros((1, n_features), dtype=np.float32)
    opts = options
    final = _final_estimator(estimator)
    if opts is None and is_classifier(final):
        opts = {id(final): {"zipmap": False}}
    with warnings.catch_warnings():
        # skl2onnx reads SVC.probA_/probB_, deprecated in scikit-learn 1.9
        warnings.simplefilter("ignore", FutureWarning)
        model = to_onnx(estimator, sample, target_opset=TARGET_OPSET, options=opts)
    _route_missing_like_sklearn(model, final)
    return save(model, path)


def _route_missing_like_sklearn(model: onnx.ModelProto, estimator: Any) -> None:
    """Send NaN down the branch scikit-learn's trees send it.

    scikit-learn ≥ 1.3 stores per split where a missing value goes (``missing_go_to_left``:
    the side learned from training NaNs, else the child with more samples); skl2onnx writes
    "false branch" for every node. The tree-ensemble node's
    ``nodes_missing_value_tracks_true`` is set from the fitted trees (node ids of the graph
    are scikit-learn's node indices, tree ids the estimator order).
    """
    if hasattr(estimator, "tree_"):
        trees = [estimator.tree_]
    elif hasattr(estimator, "estimators_") and all(hasattr(e, "tree_") for e in estimator.estimators_):
        trees = [e.tree_ for e in estimator.estimators_]
    else:
        return
    nodes = [n for n in model.graph.node if n.op_type in ("TreeEnsembleClassifier", "TreeEnsembleRegressor")]
    if len(nodes) != 1:
        return
    attrs = {a.name: a for a in nodes[0].attribute}
    tree_ids, node_ids = attrs["nodes_treeids"].ints, attrs["nodes_nodeids"].ints
    modes = attrs["nodes_modes"].strings
    tracks = [
        int(bool(trees[t].missing_go_to_left[k])) if m != b"LEAF" else 0
        for t, k, m in zip(tree_ids, node_ids, modes, strict=True)
    ]
    if "nodes_missing_value_tracks_true" in attrs:
        nodes[0].attribute.remove(attrs["nodes_missing_value_tracks_true"])
    nodes[0].attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))


def _anonymous(booster: Any) -> Any:
    """A copy whose features are named f0…fk: onnxmltools reads feature indices from names."""
    copy = booster.copy()
    copy.feature_names = None
    copy.feature_types = None
    return copy


def _objective(booster: Any) -> str:
    return str(json.loads(booster.save_config())["learner"]["objective"]["name"])


def xgboost_to_onnx(booster: Any, n_features: int, path: str | os.PathLike[str]) -> Path:
    """Convert a fitted XGBoost Booster (or sklearn wrapper) and write it to ``path``.

    ``binary:logistic``: outputs ``label`` (int64) and ``probabilities`` (n, 2) float32
    (no ZipMap). ``survival:aft``: one output ``time`` (n, 1) float32, XGBoost's prediction
    ``exp(margin)``. Other ``reg:*`` objectives: the converter's ``variable`` output.
    """
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType
    from onnxmltools.convert.xgboost._parse import WrappedBooster

    booster = booster.get_booster() if hasattr(booster, "get_booster") else booster
    types = [("input", FloatTensorType([None, n_features]))]
    objective = _objective(booster)
    if objective != "survival:aft":
        model = convert_xgboost(_anonymous(booster), initial_types=types, target_opset=XGB_OPSET)
        return save(model, path)
    model = _aft_to_onnx(booster, n_features, convert_xgboost, WrappedBooster, types)
    return save(model, path)


def _aft_to_onnx(booster: Any, n_features: int, convert: Any, wrapped: Any, types: list) -> onnx.ModelProto:
    """AFT booster → tree-ensemble regressor of the margin, then Exp.

    onnxmltools has no AFT objective: the trees are handed to it as a ``reg:squarederror``
    regressor, whose prediction is base_values + Σ leaves. The margin's base is measured, not
    assumed: the converted graph's base is corrected by the difference between XGBoost's own
    margin and the graph on probe rows (one constant, else the export fails).
    """
    import xgboost as xgb

    from gridtwin.serving.runtime import OnnxModel

    wb = wrapped(_anonymous(booster))
    wb.kwargs.update(num_class=0, num_target=1, objective="reg:squarederror")
    wb.operator_name = "XGBRegressor"
    model = convert(wb, initial_types=types, target_opset=XGB_OPSET)
    (tree,) = [n for n in model.graph.node if n.op_type == "TreeEnsembleRegressor"]
    (base,) = [a for a in tree.attribute if a.name == "base_values"]
    probe = np.random.default_rng(0).normal(size=(64, n_features)).astype(np.float32) * 10
    graph_margin = OnnxModel(model.SerializeToString()).run_one(probe).ravel()
    margin = _anonymous(booster).predict(xgb.DMatrix(probe), output_margin=True)
    offset = margin - graph_margin
    if float(np.ptp(offset)) > 1e-4:
        raise ValueError(f"AFT export: margin offset is not constant (spread {np.ptp(offset):.2e})")
    base.floats[0] = float(base.floats[0] + np.median(offset))
    graph = model.graph
    (out,) = graph.output
    graph.output.remove(out)
    graph.node.append(helper.make_node("Exp", [out.name], ["time"], name="aft_time"))
    graph.output.append(helper.make_tensor_value_info("time", onnx.TensorProto.FLOAT, [None, 1]))
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", XGB_OPSET))
    return model


def rbf_svr_to_onnx(svr: Any, x_mean: np.ndarray, x_scale: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """A fitted RBF ``SVR`` behind its input standardisation, as plain ONNX operators.

    y = Σ_i α_i exp(−γ ‖z − sv_i‖²) + b with z = (x − mean) / scale, the arithmetic of
    ``SVR.predict``; ‖z − sv‖² = ‖z‖² − 2 z·sv + ‖sv‖² so the kernel is one MatMul.
    Why not skl2onnx's SVMRegressor: ONNX Runtime evaluates that operator row by row, which
    measured 5-10× slower on optimal_dispatch's surrogates than this GEMM form (and slower
    than the numpy engine it replaces). Output ``variable`` (n, 1) float32, like skl2onnx.
    """
    from onnx import TensorProto, numpy_helper

    f32 = np.float32
    sv = np.asarray(svr.support_vectors_, f32)
    alpha = np.asarray(svr.dual_coef_, f32).reshape(-1, 1)
    consts = {
        "mean": np.asarray(x_mean, f32)[None, :],
        "inv_scale": (1.0 / np.asarray(x_scale, np.float64)).astype(f32)[None, :],
        "sv_t": np.ascontiguousarray(sv.T),
        "sv_sq": (sv.astype(np.float64) ** 2).sum(axis=1).astype(f32)[None, :],
        "minus_two": np.array(-2.0, f32),
        "zero": np.array(0.0, f32),
        "minus_gamma": np.array(-float(svr._gamma), f32),
        "alpha": alpha,
        "bias": np.asarray(svr.intercept_, f32).reshape(1, 1),
    }
    node = helper.make_node
    nodes = [
        node("Sub", ["input", "mean"], ["centred"]),
        node("Mul", ["centred", "inv_scale"], ["z"]),
        node("ReduceSumSquare", ["z"], ["z_sq"], axes=[1], keepdims=1),
        node("MatMul", ["z", "sv_t"], ["z_sv"]),
        node("Mul", ["z_sv", "minus_two"], ["cross"]),
        node("Add", ["z_sq", "cross"], ["partial"]),
        node("Add", ["partial", "sv_sq"], ["d2_raw"]),
        node("Max", ["d2_raw", "zero"], ["d2"]),  # rounding can make ‖z − sv‖² slightly negative
        node("Mul", ["d2", "minus_gamma"], ["log_k"]),
        node("Exp", ["log_k"], ["kernel"]),
        node("MatMul", ["kernel", "alpha"], ["weighted"]),
        node("Add", ["weighted", "bias"], ["variable"]),
    ]
    graph = helper.make_graph(
        nodes,
        "rbf_svr",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, sv.shape[1]])],
        [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, 1])],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in consts.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", TARGET_OPSET[""])])
    return save(model, path)


def save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.SerializeToString())
    return out


def write_params(path: str | os.PathLike[str], params: dict[str, Any]) -> Path:
    """The non-model parameters served beside an ONNX graph (medians, thresholds, names), as
    JSON: arrays become lists."""

    def plain(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(plain(params), indent=1, allow_nan=True))
    return out
