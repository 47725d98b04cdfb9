"""Shared numpy helpers of the maintenance module's four served models.

Everything here is import-light (numpy only): the module process must stay small and must
not import tensorflow, sklearn's validation paths or the simulator.
"""
