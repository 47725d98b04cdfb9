"""Network-physics toolkit shared by energy_loss, power_flow_optimization and reactive_power.

* ``network``  — `NetworkModel`: a numpy-only export of a feeder (sequence-frame common-path
  impedances, transformer, capacitor banks, tap changer, load allocation weights), built
  from `gridsim.network.build_feeder` at training time and saved as one ``.npz``.
* ``powerflow`` — the unbalanced fixed-point power flow on that model, vectorised over
  configurations (tap, capacitor steps), with line/transformer/core losses.
* ``state``    — how one head-end reading maps onto a feeder state (load allocation by
  customers' annual energy, matched to the measured per-phase P/Q and busbar voltage).
* ``linear``   — the linear loss/voltage model of a state over tap and capacitor steps.
* ``enumeration`` — its exact optimum over every setting (the one used); ``lp`` — the same
  problem as a MILP (scipy HiGHS), the reference the tests compare against.
* ``policy``   — the table of optimal settings over head-end states that serving looks up.

Serving imports only numpy from here: no pandapower, no gridsim.
"""
