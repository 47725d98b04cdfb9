"""gridtwin.core.numeric.nan_to_num gives numpy's answers (the models' inputs depend on it)."""

from __future__ import annotations

import numpy as np
import pytest

from gridtwin.core.numeric import nan_to_num


def _special(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-300, 300, size=shape)
    pick = rng.random(shape)
    x[pick < 0.15] = np.nan
    x[(pick >= 0.15) & (pick < 0.25)] = np.inf
    x[(pick >= 0.25) & (pick < 0.35)] = -np.inf
    x[(pick >= 0.35) & (pick < 0.4)] = -0.0
    return x


@pytest.mark.parametrize("nan", [0.0, np.inf, -1.5])
@pytest.mark.parametrize("shape", [(0,), (1,), (7,), (5, 3), (4, 6, 2)])
def test_same_values_sign_and_dtype_as_numpy_in_a_new_array(shape, nan) -> None:
    rng = np.random.default_rng(len(shape) * 100 + int(np.nan_to_num(nan, posinf=7)))
    x = _special(rng, shape)
    for arg in (x, x.T, x[::2] if x.ndim else x):  # views (non-contiguous) too
        before = arg.copy()
        got, want = nan_to_num(arg, nan=nan), np.nan_to_num(arg, nan=nan)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
        np.testing.assert_array_equal(arg, before)  # the input is left alone
        assert got is not arg and not np.shares_memory(got, arg)


@pytest.mark.parametrize(
    "x", [np.float64(np.nan), np.float64(-np.inf), 2.5, np.array([1, 2]), np.array([np.nan], np.float32)]
)
def test_scalars_and_other_dtypes_are_numpys(x) -> None:
    got, want = nan_to_num(x), np.nan_to_num(x)
    assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)
