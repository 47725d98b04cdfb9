"""TOPSIS against a hand-checked example and the load-balancing planner against brute force."""

from __future__ import annotations

import itertools

import numpy as np

from gridtwin.decision.balancing import neg_seq_currents, plan_moves, pos_seq_currents, worst_vuf
from gridtwin.decision.topsis import topsis


def test_topsis_hand_example() -> None:
    # Two criteria (benefit, cost), equal weights. Alternative 0 is ideal on both → closeness 1;
    # alternative 2 is anti-ideal on both → 0; alternative 1 sits half-way → 0.5.
    m = np.array([[4.0, 1.0], [3.0, 2.0], [2.0, 3.0]])
    c = topsis(m, np.array([0.5, 0.5]), np.array([True, False]))
    assert np.allclose(c, [1.0, 0.5, 0.0])


def test_topsis_weight_changes_ranking() -> None:
    m = np.array([[10.0, 5.0], [6.0, 1.0]])
    benefit = np.array([True, False])
    assert np.argmax(topsis(m, np.array([0.9, 0.1]), benefit)) == 0
    assert np.argmax(topsis(m, np.array([0.1, 0.9]), benefit)) == 1


def _toy_feeder(rng: np.random.Generator, n_nodes: int = 6, n_cust: int = 8):
    # radial chain: common-path impedance Z(i, j) = source + sum of shared segments
    seg = 0.02 + 0.01j
    z = np.array([[0.005 + 0.02j + seg * min(i, j) for j in range(n_nodes)] for i in range(n_nodes)])
    node = rng.integers(1, n_nodes, n_cust)
    phase = np.zeros(n_cust, int)  # everything on phase a: strongly unbalanced
    s = rng.uniform(1e3, 8e3, n_cust) * (1 + 0.2j)
    return z, node, phase, s


def test_planner_single_move_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    z, node, phase, s = _toy_feeder(rng)
    un = 230.0
    _, before, plans = plan_moves(z, node, phase, s, un)
    # brute force over every single move with the same linear model
    v1 = un - z[:, node] @ pos_seq_currents(s, phase, un)
    best = np.inf
    for c, q in itertools.product(range(len(s)), (1, 2)):
        ph = phase.copy()
        ph[c] = q
        best = min(best, float(worst_vuf(-z[:, node] @ neg_seq_currents(s, ph, un), v1)))
    single = min(p.vuf_after for p in plans if len(p.moves) == 1)
    assert np.isclose(single, best)
    assert before > best


def test_planner_limits_moves_and_improves() -> None:
    rng = np.random.default_rng(2)
    z, node, phase, s = _toy_feeder(rng)
    plan, before, _ = plan_moves(z, node, phase, s, 230.0)
    assert 1 <= len(plan.moves) <= 3
    assert plan.vuf_after < before
    assert 0.0 <= plan.score <= 1.0
    assert len({c for c, _ in plan.moves}) == len(plan.moves)
