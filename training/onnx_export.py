"""Export fitted scikit-learn estimators to ONNX for serving (gridtwin.serving.runtime).

Classifiers are exported without ZipMap, so probabilities come back as one (n, n_classes)
float32 array instead of a list of dicts. Inputs are float32, as in scikit-learn's own trees
(``tree.apply`` casts to float32), so tree splits agree exactly with the training library.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx

# ai.onnx 17 and ai.onnx.ml 3 are what onnxruntime 1.2x runs natively for every converter
# used here (trees, isolation forest, SVM, linear, scalers, pipelines).
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def sklearn_to_onnx(
    estimator: Any, n_features: int, path: str | os.PathLike[str], options: dict | None = None
) -> Path:
    """Convert a fitted scikit-learn estimator (or Pipeline) and write it to ``path``."""
    from skl2onnx import to_onnx

    sample = np.zeros((1, n_features), dtype=np.float32)
    opts = options
    if opts is None and hasattr(estimator, "predict_proba"):
        opts = {id(estimator): {"zipmap": False}}
    model = to_onnx(estimator, sample, target_opset=TARGET_OPSET, options=opts)
    return save(model, path)


def save(model: onnx.ModelProto, path: str | os.PathLike[str]) -> Path:
    onnx.checker.check_model(model)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(model.SerializeToString())
    return out
