"""A held-out world: LV meter streams from a generator that training never sees.

Training uses gridsim (Kerber feeders, BDEW profiles, a power flow); this package has its own
load model, voltage model, noise model and cadence mix (:mod:`training.heldout.world`), so a
figure measured on it says how a model does on meters it was not shaped on.
"""

from training.heldout.world import CADENCES_S, EVENT_KINDS, HeldOutStream, generate

__all__ = ["CADENCES_S", "EVENT_KINDS", "HeldOutStream", "generate"]
