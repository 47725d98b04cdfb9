"""Inputs of the reactive-power network (scikit-learn MLP exported to ONNX, run by ONNX
Runtime), built alike at training and serving from a head-end state and the feature row."""

from __future__ import annotations

import numpy as np

from gridtwin.core.numeric import nan_to_num

# Inputs of the reactive-power network, built from a head-end state + the feature row.
NN_INPUTS = (
    "p_a_kw",
    "p_b_kw",
    "p_c_kw",
    "q_a_kvar",
    "q_b_kvar",
    "q_c_kvar",
    "dv_pu",
    "win10min_p_kw",
    "win10min_q_kvar",
    "hour_sin",
    "hour_cos",
)


def nn_inputs(
    p_phase: np.ndarray,
    q_phase: np.ndarray,
    v_pu: np.ndarray,
    scale: np.ndarray,
    window_p: np.ndarray,
    window_q: np.ndarray,
    hour_sin: np.ndarray,
    hour_cos: np.ndarray,
) -> np.ndarray:
    """(B, len(NN_INPUTS)): head-end per-phase P/Q (kW, kvar, scaled to the whole feeder), busbar
    voltage deviation, 10-min time-window means of total P/Q (`win10min_*_mean`, IEC 61000-4-30
    10-min interval; where the cadence or a new meter's history cannot support that window it is
    NaN and the current value stands in, explicitly), time of day."""
    s = np.nanmean(scale, axis=1)
    rp = np.where(np.isfinite(window_p), window_p * s, p_phase.sum(axis=1))
    rq = np.where(np.isfinite(window_q), window_q * s, q_phase.sum(axis=1))
    return np.column_stack(
        [
            p_phase / 1e3,
            q_phase / 1e3,
            v_pu - 1.0,
            rp / 1e3,
            rq / 1e3,
            nan_to_num(hour_sin),
            nan_to_num(hour_cos),
        ]
    )
