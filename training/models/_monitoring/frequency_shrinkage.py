"""Choosing the frequency LSTM's shrinkage α (served: f_0 + α·Δ_LSTM, see
gridtwin/models/_monitoring/frequency_shrinkage.py) on validation groups.

Robust, not average: each group is one regime of the training generator's validation block
(the simulator's own series, or it plus one fast component), and α minimises the worst
group's ratio of MAE to persistence's MAE. A regime where the network's trend extrapolation
overshoots then bounds α, instead of being outvoted by the regimes where it pays. α = 0 is
persistence (ratio 1 in every group), so the chosen α never does worse than persistence on
any validation group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

#: α candidates (0 = persistence, 1 = the unshrunk network), steps of 0.05.
ALPHA_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)

Group = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def mae_ratio_by_alpha(
    f_last_hz: NDArray[np.float64],
    correction_hz: NDArray[np.float64],
    target_hz: NDArray[np.float64],
    alphas: NDArray[np.float64] = ALPHA_GRID,
) -> NDArray[np.float64]:
    """MAE of f_last + α·correction against the target over persistence's MAE, one per α.

    Persistence with zero error (a constant series) would make every ratio undefined: then
    the ratio is 1 at α = 0 and +inf for any α that moves the prediction."""
    f_last, corr, target = (np.asarray(a, dtype=float) for a in (f_last_hz, correction_hz, target_hz))
    persistence = np.abs(f_last - target).mean()
    pred = f_last[None, :] + np.asarray(alphas, dtype=float)[:, None] * corr[None, :]
    mae = np.abs(pred - target[None, :]).mean(axis=1)
    if persistence > 0:
        return mae / persistence
    return np.where(mae > 0, np.inf, 1.0)


def minimax_alpha(
    groups: Sequence[Group], alphas: NDArray[np.float64] = ALPHA_GRID
) -> tuple[float, NDArray[np.float64]]:
    """The α whose worst group ratio is lowest (the smaller α on a tie), and the ratios
    (n_groups, n_alphas) it was chosen from."""
    if not groups:
        raise ValueError("minimax_alpha needs at least one validation group")
    ratios = np.vstack([mae_ratio_by_alpha(*g, alphas=alphas) for g in groups])
    return float(alphas[int(np.argmin(ratios.max(axis=0)))]), ratios
