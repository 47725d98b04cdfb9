"""The exact optimum of the linearised tap/capacitor problem by enumerating every setting.

The decision is small and discrete: 5 tap positions x 5^3 bank levels = 625 settings on the
bundled feeders. Evaluating the linear model (gridtwin.netopt.linear) for all of them at once is
a few array operations, and the argmin of

    loss(t, s) + PENALTY_W_PER_PU x max(0, worst excursion of V(t, s) beyond the band)

is the same optimum the MILP (gridtwin.netopt.lp, HiGHS) returns for that objective — the MILP
linearises the same products exactly and its violation variable is the worst excursion — in
a few ms instead of 70–240 ms. tests/unit/test_netopt_physics.py compares the two.
"""

from __future__ import annotations

import time

import numpy as np

from gridtwin.netopt.linear import PENALTY_W_PER_PU, Linearisation, Solution, VoltageBand, linearise
from gridtwin.netopt.network import NetworkModel


def bank_levels(lin: Linearisation) -> np.ndarray:
    """Every combination of bank levels, (C, K) int, in `NetworkModel.all_bank_configs` order."""
    grids = np.meshgrid(*[np.arange(len(dl)) for dl in lin.d_loss], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=1)


def bank_effects(lin: Linearisation, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss change (C,) W and node-voltage change (C, m) pu of each combination of bank levels,
    the pairwise interaction of the banks included."""
    d_loss = sum(dl[levels[:, k]] for k, dl in enumerate(lin.d_loss))
    for (k, l_), c in lin.pair.items():
        d_loss = d_loss + c * levels[:, k] * levels[:, l_]
    d_v = sum(dv[levels[:, k]] for k, dv in enumerate(lin.d_v))
    return np.asarray(d_loss, float), np.asarray(d_v, float)


def worst_excursion_pu(v_pu: np.ndarray, band: VoltageBand) -> np.ndarray:
    """Largest excursion beyond the band over the last axis (node-phases), 0 inside it."""
    under = band.vmin_pu - v_pu.min(axis=-1)
    over = v_pu.max(axis=-1) - band.vmax_pu
    return np.maximum(np.maximum(under, over), 0.0)


def solve_enumerated(lin: Linearisation, band: VoltageBand) -> Solution:
    """The setting of least loss + violation penalty over every tap x bank combination."""
    started, cpu = time.perf_counter(), time.process_time()
    levels = bank_levels(lin)
    d_loss, d_v = bank_effects(lin, levels)
    loss = lin.loss0[:, None] + d_loss[None, :]  # (taps, C)
    excursion = worst_excursion_pu(lin.v0[:, None, :] + d_v[None, :, :], band)
    t, c = np.unravel_index(int(np.argmin(loss + PENALTY_W_PER_PU * excursion)), loss.shape)
    return Solution(
        tap=int(lin.taps[t]),
        steps=levels[c].astype(int),
        predicted_loss_w=float(loss[t, c]),
        base_loss_w=float(lin.loss0[lin.present_tap_index]),
        violation_pu=float(excursion[t, c]),
        solve_ms=(time.perf_counter() - started) * 1e3,
        status=0,
        cpu_ms=(time.process_time() - cpu) * 1e3,
    )


def predicted_extremes(lin: Linearisation) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest node voltage (pu) the linear model predicts for every setting,
    each (taps, C) in (tap, `bank_levels`) order."""
    _, d_v = bank_effects(lin, bank_levels(lin))
    v = lin.v0[:, None, :] + d_v[None, :, :]
    return v.min(axis=-1), v.max(axis=-1)


def optimise(
    model: NetworkModel, s_node: np.ndarray, e_pu: float, band: VoltageBand | None = None
) -> Solution:
    """Linearise at the state and enumerate (solve_ms and cpu_ms cover both).

    `band` defaults to EN 50160's Un ± 10 % without margin."""
    started, cpu = time.perf_counter(), time.process_time()
    sol = solve_enumerated(linearise(model, s_node, e_pu), band or VoltageBand.of(model))
    sol.solve_ms = (time.perf_counter() - started) * 1e3
    sol.cpu_ms = (time.process_time() - cpu) * 1e3
    return sol
