"""Numpy forward pass of stacked LSTM layers exported from ``torch.nn.LSTM`` (gate order
i, f, g, o as in PyTorch) followed by a linear head. Serving needs no torch."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray


class NumpyLSTM:
    """``layers`` LSTMs (batch-first input (n, steps, features)) and a linear head on the
    last hidden state. Arrays: ``l{k}_w_ih`` (4H, in), ``l{k}_w_hh`` (4H, H), ``l{k}_b`` (4H,)
    (= b_ih + b_hh), ``head_w`` (out, H), ``head_b`` (out,)."""

    def __init__(self, arrays: Mapping[str, np.ndarray], prefix: str = "") -> None:
        self.layers = []
        k = 0
        while f"{prefix}l{k}_w_ih" in arrays:
            w_ih = np.asarray(arrays[f"{prefix}l{k}_w_ih"], dtype=np.float64)
            w_hh = np.asarray(arrays[f"{prefix}l{k}_w_hh"], dtype=np.float64)
            b = np.asarray(arrays[f"{prefix}l{k}_b"], dtype=np.float64)
            # σ(z) = (tanh(z/2) + 1)/2: pre-scaling the i, f, o gate rows by ½ lets one tanh call
            # per step serve all four gates (g keeps scale 1), which matters for single rows.
            hidden = w_hh.shape[1]
            scale = np.full(4 * hidden, 0.5)
            scale[2 * hidden : 3 * hidden] = 1.0
            self.layers.append(
                (
                    np.ascontiguousarray((w_ih * scale[:, None]).T),
                    np.ascontiguousarray((w_hh * scale[:, None]).T),
                    b * scale,
                )
            )
            k += 1
        self.head_w = np.ascontiguousarray(np.asarray(arrays[f"{prefix}head_w"], dtype=np.float64).T)
        self.head_b = np.asarray(arrays[f"{prefix}head_b"], dtype=np.float64)

    def __call__(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        seq = np.asarray(x, dtype=np.float64)
        n, steps, _ = seq.shape
        for w_ih, w_hh, b in self.layers:
            hidden = w_hh.shape[0]
            h = np.zeros((n, hidden))
            c = np.zeros((n, hidden))
            # Input projections of all steps at once; only the recurrence is sequential.
            # 2-D matmul: numpy's batched 3-D matmul path is ~10x slower here.
            pre = (seq.reshape(n * steps, -1) @ w_ih).reshape(n, steps, -1) + b
            outs = np.empty((n, steps, hidden))
            for t in range(steps):
                g_all = np.tanh(pre[:, t] + h @ w_hh)
                gates = 0.5 * g_all + 0.5  # i, f, o as logistic values (the g slice is unused)
                c = gates[:, hidden : 2 * hidden] * c + gates[:, :hidden] * g_all[:, 2 * hidden : 3 * hidden]
                h = gates[:, 3 * hidden :] * np.tanh(c)
                outs[:, t] = h
            seq = outs
        return seq[:, -1] @ self.head_w + self.head_b
