"""Keras 3 (TensorFlow backend) for the networks: one set-up and one ONNX export.

Training fits the networks with Keras and registers them as ONNX graphs, which serving runs
with ONNX Runtime (``gridtwin.serving.runtime.OnnxModel``): the services never import
TensorFlow. ``configure`` must run before the first Keras call of a process; it keeps the
logs quiet, the CPU threads few (the machine is shared) and the run seeded.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

# Before TensorFlow is imported anywhere: quiet C++ logs, the TensorFlow backend, and no oneDNN
# re-ordering of float sums (runs stay reproducible for a fixed seed).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

INTRA_OP_THREADS = 2
INTER_OP_THREADS = 1


def configure(seed: int, threads: int = INTRA_OP_THREADS) -> Any:
    """Seed Python, numpy and TensorFlow, cap TensorFlow's threads; returns the ``keras`` module."""
    import keras
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, threads))
        tf.config.threading.set_inter_op_parallelism_threads(INTER_OP_THREADS)
    except RuntimeError:
        pass  # already initialised by an earlier network in this process: the caps hold
    tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(seed)
    return keras


def _sample_inputs(model: Any) -> list[np.ndarray]:
    """One zero row per model input (export needs a model that has been called once)."""
    return [np.zeros((1, *tuple(t.shape)[1:]), dtype=np.float32) for t in model.inputs]


def export_onnx(model: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted Keras model as an ONNX graph (tf2onnx via ``model.export``) and check it.

    Input names are the Keras ``Input`` names; the graph keeps a free batch dimension.
    """
    import onnx

    from training.onnx_export import save

    # tf2onnx logs every optimisation pass at INFO, which the training pipeline's logging shows.
    logging.getLogger("tf2onnx").setLevel(logging.WARNING)
    sample = _sample_inputs(model)
    model.predict(sample if len(sample) > 1 else sample[0], verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        model.export(str(raw), format="onnx", verbose=False)
        return save(onnx.load(str(raw)), path)


def keras_predict(model: Any, inputs: dict[str, np.ndarray] | np.ndarray, batch: int = 4096) -> np.ndarray:
    """Keras' own prediction (float32, as the graph computes), for parity checks and reports."""
    if isinstance(inputs, dict):
        x = [np.asarray(inputs[t.name], np.float32) for t in model.inputs]
    else:
        x = np.asarray(inputs, np.float32)
    return np.asarray(model.predict(x, batch_size=batch, verbose=0))


def onnx_parity(model: Any, path: Path, inputs: dict[str, np.ndarray] | np.ndarray) -> float:
    """Largest absolute difference between ONNX Runtime and Keras on ``inputs`` (held-out rows)."""
    from gridtwin.serving.runtime import OnnxModel

    served = OnnxModel(path).run_one(inputs)
    return float(np.max(np.abs(served - keras_predict(model, inputs)))) if len(served) else 0.0
