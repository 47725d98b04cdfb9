"""Small numeric helpers of the serving path."""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX = np.finfo(np.float64).max


def nan_to_num(x: Any, nan: float = 0.0) -> Any:
    """`np.nan_to_num(x, nan=nan)`: NaN to `nan`, ±inf to ± the largest float64, in a new array.

    The same values for float64 arrays with two ufuncs and a masked copy: numpy's own takes
    about 13 µs per call in Python-level checks, and the models call it some 40 times per
    one-reading call (0.5 ms of the sixteen models' compute). Anything else (scalars, other
    dtypes) goes to numpy's."""
    if type(x) is not np.ndarray or x.dtype != np.float64 or x.ndim == 0:
        return np.nan_to_num(x, nan=nan)
    out = np.minimum(np.maximum(x, -_MAX), _MAX)  # ±inf clipped, NaN kept (maximum propagates it)
    np.copyto(out, nan, where=np.isnan(out))
    return out
