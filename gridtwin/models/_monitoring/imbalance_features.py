"""Scale-free unbalance descriptors for the phase-imbalance cause tree (one code path for
training and serving).

All inputs come from the serving feature vector. Phase-specific quantities are *sorted*
(largest, middle, smallest) so the tree learns the shape of the unbalance, not which phase
carries it (the phase is named separately by :func:`critical_phase`); ratios make the
descriptors independent of the meter's size and nominal voltage. No time of day: a cause must
show in the electrical quantities; the hour is a prior of the training feeder (its PV peaks at
noon) that named normal midday readings "unbalanced_pv" on other networks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridtwin.core.numeric import nan_to_num

PHASES = ("a", "b", "c")

#: Feature-vector columns read by :func:`cause_descriptors` and :func:`critical_phase`.
INPUT_COLUMNS: tuple[str, ...] = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "current_a_a",
    "current_b_a",
    "current_c_a",
    "active_power_a_w",
    "active_power_b_w",
    "active_power_c_w",
    "reactive_power_a_var",
    "reactive_power_b_var",
    "reactive_power_c_var",
    "vuf_pct",
    "pvur_pct",
    "current_unbalance_pct",
    "power_unbalance_pct",
    "current_iuf_est_pct",
    "current_zero_seq_est_a",
    "current_pos_seq_est_a",
)

DESCRIPTOR_NAMES: tuple[str, ...] = (
    "i_share_max",
    "i_share_mid",
    "i_share_min",
    "p_share_max",
    "p_share_mid",
    "p_share_min",
    "q_share_max",
    "q_share_min",
    "n_phases_exporting",
    "v_dev_max_pu",
    "v_dev_min_pu",
    "v_min_pu",
    "vuf_pct",
    "pvur_pct",
    "current_unbalance_pct",
    "power_unbalance_pct",
    "current_iuf_est_pct",
    "zero_to_pos_seq_ratio",
)

# Below this share of the mean current a phase is taken as carrying no current.
_ZERO_CURRENT_SHARE = 1e-3


def _safe_div(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(b) > 1e-12, a / np.where(np.abs(b) > 1e-12, b, 1.0), 0.0)


def cause_descriptors(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, len(INPUT_COLUMNS)) feature columns → (n, len(DESCRIPTOR_NAMES)) descriptors.

    Shares are of the three-phase sums (|P| for power so export does not cancel load);
    ``v_dev_*`` is each phase voltage minus the three-phase median, in pu.
    """
    x = nan_to_num(np.asarray(x, dtype=float))
    v, i, p, q = x[:, 0:3], x[:, 3:6], x[:, 6:9], x[:, 9:12]
    i_share = np.sort(_safe_div(i, i.sum(axis=1, keepdims=True)), axis=1)[:, ::-1]
    p_abs = np.abs(p).sum(axis=1, keepdims=True)
    p_share = np.sort(_safe_div(p, p_abs), axis=1)[:, ::-1]
    q_share = np.sort(_safe_div(q, np.abs(q).sum(axis=1, keepdims=True)), axis=1)[:, ::-1]
    exporting = (p < 0).sum(axis=1).astype(float)
    v_dev = v - np.median(v, axis=1, keepdims=True)
    zero_pos = _safe_div(x[:, 17], x[:, 18])
    return np.column_stack(
        [
            i_share,
            p_share,
            q_share[:, 0],
            q_share[:, 2],
            exporting,
            v_dev.max(axis=1),
            v_dev.min(axis=1),
            v.min(axis=1),
            x[:, 12:17],
            zero_pos,
        ]
    )


def three_phase_current(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True where at most one phase carries no current (a three-phase meter, possibly with an
    open phase or a dropped channel); single-phase customer meters report zero current on the
    two phases they do not use, and their cause cannot be assessed from one phase."""
    i = nan_to_num(np.asarray(x, dtype=float)[:, 3:6])
    mean = i.mean(axis=1, keepdims=True)
    zero = i <= _ZERO_CURRENT_SHARE * np.maximum(mean, 1e-9)
    return (zero.sum(axis=1) <= 1) & (mean[:, 0] > 0)


def critical_phase(x: NDArray[np.float64], cause: NDArray[np.str_]) -> NDArray[np.str_]:
    """The phase the cause acts on, by the cause's physics:

    * none / phase_concentrated_load: the most loaded phase (largest current);
    * open_phase: the phase with the smallest current (the open conductor);
    * unbalanced_pv: the phase with the smallest (most negative) active power (PV export);
    * sensor_fault: the phase whose voltage deviates most from the three-phase median
      (a dropped channel reads 0, a drifting gain pulls one phase away).
    """
    x = nan_to_num(np.asarray(x, dtype=float))
    v, i, p = x[:, 0:3], x[:, 3:6], x[:, 6:9]
    pick = np.argmax(i, axis=1)
    pick = np.where(cause == "open_phase", np.argmin(i, axis=1), pick)
    pick = np.where(cause == "unbalanced_pv", np.argmin(p, axis=1), pick)
    dev = np.abs(v - np.median(v, axis=1, keepdims=True))
    pick = np.where(cause == "sensor_fault", np.argmax(dev, axis=1), pick)
    return np.asarray(PHASES)[pick]
