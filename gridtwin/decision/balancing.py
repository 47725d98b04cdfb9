"""Phase re-assignment of single-phase loads, ranked by TOPSIS.

Network model: the feeder's sequence-frame common-path impedances (the simulator's model,
`gridsim.network.Feeder.z1`/`z0`, exported to the artifact): V = E − Z·I per sequence. The
negative-sequence voltage at every node follows from the customers' currents,
V2 = −Z1·I2 with I2 = (Ia + a²·Ib + a·Ic)/3, I = conj(S / V_phase) at nominal phase voltages;
VUF = |V2| / |V1| × 100 % (IEC 61000-4-30). Moving customer c from phase p to q changes I2 by
a rank-one term, so every candidate move is evaluated exactly in this linearised model in
one vectorised step. (The evaluation re-checks the chosen moves with the full power flow.)

Plans of up to `MAX_MOVES` moves come from a beam search on the worst-node VUF; TOPSIS
then ranks the plans on four criteria with documented weights:

| criterion | direction | weight | definition |
|---|---|---|---|
| imbalance reduction | benefit | 0.55 | worst-node VUF before − after (percentage points) |
| utilisation | cost | 0.15 | most-loaded phase's share of the scope's total |S| after the moves |
| switching operations | cost | 0.20 | number of moves |
| cost | cost | 0.10 | € = moves × crew cost + moved kW × outage h × VoLL |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridtwin.decision.topsis import topsis

A = np.exp(2j * np.pi / 3)
PHASES = ("a", "b", "c")
MAX_MOVES = 3
BEAM = 4
WEIGHTS = np.array([0.55, 0.15, 0.20, 0.10])
BENEFIT = np.array([True, False, False, False])
CREW_EUR_PER_MOVE = 120.0  # one crew visit per re-connection
OUTAGE_H = 0.5  # customer disconnected while the phase is changed
VOLL_EUR_PER_KWH = 10.0  # value of lost load (residential order of magnitude)
_ROT = np.array([1.0, A**2, A])  # phase-voltage angles 0°, −120°, +120°


@dataclass
class Plan:
    moves: list[tuple[int, int]]  # (customer index, to-phase index)
    vuf_after: float
    score: float = 0.0


def neg_seq_currents(s_va: np.ndarray, phase: np.ndarray, un: float) -> np.ndarray:
    """I2 contribution of single-phase loads S (complex VA) on `phase` (0/1/2) at nominal voltage."""
    i_ph = np.conj(s_va / (un * _ROT[phase]))  # phase current phasor
    # I2 = (Ia + a²·Ib + a·Ic)/3 → weight of phase k is a^(2k mod 3): 1, a², a⁴ = a
    return i_ph * np.array([1.0, A**2, A])[phase] / 3.0


def pos_seq_currents(s_va: np.ndarray, phase: np.ndarray, un: float) -> np.ndarray:
    i_ph = np.conj(s_va / (un * _ROT[phase]))
    return i_ph * np.array([1.0, A, A**2])[phase] / 3.0


def worst_vuf(v2: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Worst node VUF (%) along the last axis."""
    return (np.abs(v2) / np.maximum(np.abs(v1), 1e-9)).max(axis=-1) * 100.0


def plan_moves(
    z1: np.ndarray,
    cust_node: np.ndarray,
    cust_phase: np.ndarray,
    s_va: np.ndarray,
    un: float,
    e_pu: float = 1.0,
    scope: np.ndarray | None = None,
    nodes: np.ndarray | None = None,
) -> tuple[Plan, float, list[Plan]]:
    """Best plan by TOPSIS, the worst-node VUF before (%) and all candidate plans.

    z1: (n_nodes, n_nodes) positive-sequence common-path impedance (Ω); customers by node,
    phase (0–2) and complex power (VA, load convention); `scope` = movable customers;
    `nodes` = nodes whose VUF counts (default all).
    """
    n_c = len(s_va)
    scope = np.ones(n_c, bool) if scope is None else scope
    cols = np.arange(z1.shape[0]) if nodes is None else nodes
    zc = z1[np.ix_(cols, cust_node)]  # (nodes, customers)
    v1 = e_pu * un - zc @ pos_seq_currents(s_va, cust_phase, un)
    v2_0 = -zc @ neg_seq_currents(s_va, cust_phase, un)
    before = float(worst_vuf(v2_0, v1))
    cand_c = np.repeat(np.flatnonzero(scope & (np.abs(s_va) > 1.0)), 2)
    cand_q = (cust_phase[cand_c] + np.tile([1, 2], len(cand_c) // 2)) % 3
    # change of V2 at every node for each candidate (rank one): remove from p, add on q
    d_i2 = neg_seq_currents(s_va[cand_c], cand_q, un) - neg_seq_currents(s_va[cand_c], cust_phase[cand_c], un)
    d_v2 = -(zc[:, cand_c] * d_i2[None]).T  # (candidates, nodes)
    beam: list[tuple[list[int], np.ndarray]] = [([], v2_0)]
    plans: list[Plan] = []
    seen: set[frozenset] = set()
    for _ in range(MAX_MOVES):
        nxt = []
        for used, v2 in beam:
            vufs = worst_vuf(v2[None] + d_v2, v1[None])
            taken = np.isin(cand_c, cand_c[used]) if used else np.zeros(len(cand_c), bool)
            vufs[taken] = np.inf
            order = (
                np.argpartition(vufs, min(BEAM, len(vufs) - 1))[:BEAM]
                if len(vufs) > BEAM
                else np.arange(len(vufs))
            )
            for k in order.tolist():
                vk = float(vufs[k])
                if vk == np.inf:
                    continue
                key = frozenset([*used, k])
                if key in seen:
                    continue
                seen.add(key)
                nxt.append(([*used, k], v2 + d_v2[k], vk))
        nxt.sort(key=lambda t: t[2])
        cc, cq = cand_c.tolist(), cand_q.tolist()
        for idx, _, vuf in nxt:
            plans.append(Plan([(cc[i], cq[i]) for i in idx], vuf))
        beam = [(idx, v2) for idx, v2, _ in nxt[:BEAM]]
        if not beam:
            break
    empty = Plan([], before)
    plans = [p for p in plans if p.vuf_after < before] or [empty]
    # criteria with plain Python floats: numpy scalar arithmetic in this small loop costs ~20x more
    abs_s = np.abs(s_va).tolist()
    kw = (np.maximum(s_va.real, 0.0) / 1e3).tolist()
    ph = cust_phase.tolist()
    phase_s = np.zeros(3)
    np.add.at(phase_s, cust_phase[scope], np.abs(s_va[scope]))
    base = phase_s.tolist()
    total = max(sum(base), 1e-9)
    crit = np.zeros((len(plans), 4))
    for j, p in enumerate(plans):
        ps = list(base)
        moved_kw = 0.0
        for c, q in p.moves:
            ps[ph[c]] -= abs_s[c]
            ps[q] += abs_s[c]
            moved_kw += kw[c]
        crit[j] = (
            before - p.vuf_after,
            max(ps) / total,
            len(p.moves),
            len(p.moves) * CREW_EUR_PER_MOVE + moved_kw * OUTAGE_H * VOLL_EUR_PER_KWH,
        )
    scores = topsis(crit, WEIGHTS, BENEFIT) if len(plans) > 1 else np.ones(1)
    for p, s in zip(plans, scores, strict=True):
        p.score = float(s)
    best = plans[int(np.argmax(scores))]
    return best, before, plans
