"""How one reading maps onto a feeder state (documented in docs/models for the three models).

A reading is one meter's per-phase P, Q and |V|. The network-physics models work on the
feeder the meter belongs to (the meter catalogue in the `NetworkModel`):

* **transformer meter** (LV side of the distribution transformer): the head-end measurement
  of the whole feeder. The state is the measured per-phase P/Q *allocated to the customers of
  that phase in proportion to their annual energy* (the utility's load-allocation practice),
  corrected for the feeder's own losses so the power flow reproduces the measured head-end
  P/Q per phase, with the source voltage set so the busbar voltage matches the measurement.
* **feeder-head meter** (one LV section): the section's P/Q is measured; the other sections
  are *extrapolated* in proportion to their annual energy (answer flagged DEGRADED).
* **customer meter**: one connection says nothing reliable about the feeder head; feeder-
  level answers are not produced for it (DEGRADED, stated in `info.detail`).
* **unknown meter**: treated as the transformer meter of an equivalent feeder, the training
  feeder (stated in `info.detail`).
"""

from __future__ import annotations

import numpy as np

from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.powerflow import FlowResult, solve


def equivalent_state(
    model: NetworkModel,
    p_phase: np.ndarray,
    q_phase: np.ndarray,
    v_busbar_pu: np.ndarray,
    iterations: int = 4,
) -> tuple[np.ndarray, np.ndarray, FlowResult]:
    """Node powers and source voltage reproducing a head-end measurement.

    Args:
        p_phase, q_phase: (B, 3) measured head-end P (W) and Q (var) per phase.
        v_busbar_pu: (B,) measured mean busbar voltage (pu of Un).

    Returns:
        s_node (n, 3, B) complex VA, e_pu (B,), and the final power flow.
    """
    s_meas = (np.asarray(p_phase, float) + 1j * np.asarray(q_phase, float)).T  # (3, B)
    v_meas = np.asarray(v_busbar_pu, float)
    e = v_meas.copy()
    target = s_meas.copy()
    for _ in range(iterations):
        s_node = model.weights[:, :, None] * target[None]
        flow = solve(model, s_node, e, tol_pu=1e-6)
        head = flow.head_power()
        # the power flow's own losses per phase are added on top of the loads
        target = target + (s_meas - head)
        e = e + (v_meas - np.abs(flow.v[0]).mean(axis=0) / model.un)
    s_node = model.weights[:, :, None] * target[None]
    flow = solve(model, s_node, e)
    return s_node, e, flow
