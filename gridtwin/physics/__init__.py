"""Pure, vectorised power-system formulas (numpy arrays in, arrays out).

Every function names the standard it implements (see docs/standards.md) and carries
its units in its name. Nothing here assumes 230 V or 50 Hz: nominal values are inputs.
"""
