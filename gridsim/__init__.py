"""gridsim — physics-based LV feeder simulator for the gridtwin digital twin.

Power flow on standard pandapower LV feeders driven by BDEW standard load profiles, pvlib
clear-sky PV and EV charging; events injected by their physics (IEEE 1159 RMS variations by
cause, harmonic sources by type, unbalance by cause, swing-equation frequency events,
IEC 60076-7 transformer ageing). See docs/simulator.md.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
