"""ONNX Runtime: the one inference runtime of every served model.

Training exports each fitted estimator to ONNX when it is registered (see
``training/onnx_export.py``); serving opens the file once per process as an
:class:`OnnxModel` and runs whole batches per call. Sessions use one intra-op and one
inter-op thread: a module service runs four models per request on a 2-core pod, and
parallelism comes from replicas and batching, not from threads fighting inside one call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray


def session_options() -> ort.SessionOptions:
    """Options shared by every session: single-threaded, sequential, fully optimised."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # No spinning worker threads: an idle module should cost no CPU.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return opts


class OnnxModel:
    """One ONNX graph loaded into an ONNX Runtime session.

    ``run`` takes the graph's inputs (a single array for single-input graphs) and returns
    every output by name. Inputs are cast to the dtype the graph declares (float32 for
    the converted scikit-learn, XGBoost and Keras models).
    """

    _DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64}

    def __init__(self, path: str | os.PathLike[str] | bytes) -> None:
        source = path if isinstance(path, bytes) else str(Path(path))
        self.session = ort.InferenceSession(
            source, sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
        self.inputs = [(i.name, self._DTYPES.get(i.type, np.float32)) for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, x: NDArray | Mapping[str, NDArray]) -> dict[str, NDArray]:
        if isinstance(x, Mapping):
            feeds = {name: np.ascontiguousarray(x[name], dtype=dtype) for name, dtype in self.inputs}
        else:
            ((name, dtype),) = self.inputs
            feeds = {name: np.ascontiguousarray(x, dtype=dtype)}
        values = self.session.run(self.output_names, feeds)
        return dict(zip(self.output_names, values, strict=True))

    def run_one(self, x: NDArray | Mapping[str, NDArray], output: str | None = None) -> NDArray:
        """One output (the first, unless named) of ``run``."""
        return self.run(x)[output or self.output_names[0]]
