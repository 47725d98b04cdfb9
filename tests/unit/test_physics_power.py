"""Hand-checked vectors for apparent power, signed PF and compensation (standards.md Power)."""

import math

import numpy as np
import pytest

from gridtwin.physics import power


def test_apparent_power_3_4_5() -> None:
    assert power.apparent_power_va(3000.0, -4000.0) == pytest.approx(5000.0)


@pytest.mark.parametrize(
    ("p", "q", "pf"),
    [
        (3000.0, 4000.0, 0.6),  # import, lagging
        (3000.0, -4000.0, -0.6),  # import, leading: sign follows Q
        (-3000.0, -4000.0, -0.6),  # export (PV) with Q < 0
        (-3000.0, 4000.0, 0.6),  # export with Q > 0
        (5000.0, 0.0, 1.0),
    ],
)
def test_signed_power_factor(p: float, q: float, pf: float) -> None:
    assert power.power_factor_signed(p, q) == pytest.approx(pf)


def test_power_factor_undefined_at_zero_s() -> None:
    assert np.isnan(power.power_factor_signed(0.0, 0.0))
    assert power.power_factor_signed(0.0, 0.0, undefined=1.0) == 1.0


def test_totals_are_sums() -> None:
    assert power.three_phase_total(1.0, -2.0, 4.5) == pytest.approx(3.5)


def test_compensation_example() -> None:
    # 100 kW from PF 0.80 (tan = 0.75) to 0.95 (tan = 0.328684): 42.13 kvar
    expected = 100e3 * (0.75 - math.tan(math.acos(0.95)))
    assert expected == pytest.approx(42131.6, abs=0.1)
    assert power.compensation_var(100e3, 0.8, 0.95) == pytest.approx(expected)
    assert power.compensation_var(100e3, 0.95, 0.95) == pytest.approx(0.0, abs=1e-9)
