"""The voltage margin that keeps a served setting inside EN 50160 ±10 % despite the linear model's error.

The served setting is chosen by the linear model (gridtwin.netopt.linear) at the head-end
state of the table's nearest grid point, with the load allocated to customers by annual energy
and spread evenly over the phases (gridtwin.netopt.state, gridtwin.netopt.policy). The feeder's
true voltages under that setting differ: the customers' real loads differ from the allocation,
the reading lies between grid points, and the model is linear in the settings. On training
states (the training feeder, outside the test period) this module compares, for every setting,
the lowest and highest node voltage the linear model predicts at the served grid state with
those of a full power flow of the true state:

    under error = predicted lowest voltage - true lowest voltage    (pu; > 0: optimistic)
    over error  = true highest voltage - predicted highest voltage

The margins are a high quantile of each error over (state, setting) pairs, floored at 0; the
optimiser then keeps every node within [0.90 + under, 1.10 - over] pu (EN 50160 §4.2.2 narrowed).
The held-out test states and the other feeder are never used to choose them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gridtwin.netopt.enumeration import predicted_extremes
from gridtwin.netopt.linear import linearise
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.policy import nearest_grid_state
from gridtwin.netopt.powerflow import evaluate_configs
from gridtwin.netopt.state import equivalent_state

_P = ["active_power_a_w", "active_power_b_w", "active_power_c_w"]
_Q = ["reactive_power_a_var", "reactive_power_b_var", "reactive_power_c_var"]


@dataclass(frozen=True)
class VoltageMargin:
    under_pu: float  # added to the EN 50160 lower limit
    over_pu: float  # taken off the upper limit
    quantile: float
    n_states: int
    # the same quantiles without the table's grid (linear model at the reading's own state):
    # the allocation and linearisation error alone, reported beside the margin
    allocation_under_pu: float
    allocation_over_pu: float

    def as_dict(self) -> dict[str, float]:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def all_settings(model: NetworkModel) -> tuple[np.ndarray, np.ndarray]:
    """Every tap x bank setting in the enumeration's (tap-major) order: taps (C,), steps (C, K)."""
    banks = model.all_bank_configs()
    return np.repeat(model.taps, len(banks)), np.tile(banks, (len(model.taps), 1))


def linear_extremes(
    model: NetworkModel, s_node: np.ndarray, e_pu: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Predicted lowest/highest node voltage (pu) of every setting at S states, each (S, C)."""
    lo, hi = [], []
    for j in range(s_node.shape[2]):
        vlo, vhi = predicted_extremes(linearise(model, s_node[:, :, j], float(e_pu[j])))
        lo.append(vlo.reshape(-1))
        hi.append(vhi.reshape(-1))
    return np.array(lo), np.array(hi)


def voltage_margin(model: NetworkModel, states, idx: np.ndarray, axes, quantile: float) -> VoltageMargin:
    """Margins from the training states `idx` (training.netopt.dataset.States) for a table on
    `axes` (P, Q, V grid), as the `quantile` of the errors over (state, setting) pairs."""
    taps, steps = all_settings(model)
    _, vmin_true, vmax_true = evaluate_configs(model, states.s_node[:, :, idx], states.e_pu[idx], taps, steps)
    f = states.features.iloc[idx]
    p, q, v = f[_P].to_numpy(), f[_Q].to_numpy(), f.voltage_mean_pu.to_numpy()
    pg, qg, vg = nearest_grid_state(p.sum(axis=1), q.sum(axis=1), v, *axes)
    s_g, e_g, _ = equivalent_state(
        model, np.repeat(pg[:, None] / 3, 3, 1), np.repeat(qg[:, None] / 3, 3, 1), vg
    )
    lo_g, hi_g = linear_extremes(model, s_g, e_g)
    s_r, e_r, _ = equivalent_state(model, p, q, v)
    lo_r, hi_r = linear_extremes(model, s_r, e_r)

    def margin(err: np.ndarray) -> float:
        return max(float(np.quantile(err, quantile)), 0.0)

    return VoltageMargin(
        under_pu=margin(lo_g - vmin_true),
        over_pu=margin(vmax_true - hi_g),
        quantile=quantile,
        n_states=len(idx),
        allocation_under_pu=margin(lo_r - vmin_true),
        allocation_over_pu=margin(vmax_true - hi_r),
    )
