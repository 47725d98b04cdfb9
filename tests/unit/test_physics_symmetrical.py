"""Hand-checked vectors for symmetrical components and unbalance (standards.md)."""

import math

import numpy as np
import pytest

from gridtwin.physics import symmetrical as sym


def _line_phasors(u12: float, u23: float, u31: float) -> tuple[complex, complex, complex]:
    """Closed triangle of line phasors with the given magnitudes (law of cosines)."""
    # place U12 on the real axis; U23 and U31 close the triangle U12 + U23 + U31 = 0
    cos_b = (u12**2 + u23**2 - u31**2) / (2 * u12 * u23)
    ang = math.pi - math.acos(cos_b)
    p12 = complex(u12, 0)
    p23 = u23 * complex(math.cos(-ang), math.sin(-ang))
    return p12, p23, -(p12 + p23)


def test_check_vector_lvur_and_vuf() -> None:
    assert sym.lvur_pct(200, 205, 220) == pytest.approx(5.60, abs=0.005)
    assert sym.vuf_from_line_magnitudes_pct(200, 205, 220) == pytest.approx(5.84, abs=0.005)


def test_vuf_phasor_and_beta_forms_agree() -> None:
    p12, p23, p31 = _line_phasors(200, 205, 220)
    assert abs(p31) == pytest.approx(220)
    assert sym.vuf_from_phasors_pct(p12, p23, p31) == pytest.approx(5.8414, abs=1e-3)


def test_sequence_components_of_pure_sequences() -> None:
    a = sym.A_OPERATOR
    u0, u1, u2 = sym.symmetrical_components(1.0, a * a, a)  # positive sequence abc
    assert abs(u1) == pytest.approx(1.0) and abs(u2) < 1e-12 and abs(u0) < 1e-12
    u0, u1, u2 = sym.symmetrical_components(1.0, a, a * a)  # negative sequence
    assert abs(u2) == pytest.approx(1.0) and abs(u1) < 1e-12
    # 1 pu positive + 0.1 pu negative sequence -> VUF 10 %
    ua, ub, uc = 1.0 + 0.1, a * a + 0.1 * a, a + 0.1 * a * a
    assert sym.vuf_from_phasors_pct(ua, ub, uc) == pytest.approx(10.0)
    u0, _, _ = sym.symmetrical_components(1.0, 1.0, 1.0)
    assert abs(u0) == pytest.approx(1.0)


def test_balanced_is_zero_and_vectorised() -> None:
    out = sym.vuf_from_line_magnitudes_pct([400, 200], [400, 205], [400, 220])
    assert out[0] == pytest.approx(0.0, abs=1e-6)
    assert out[1] == pytest.approx(5.8414, abs=1e-3)


def test_pvur_over_phase_magnitudes() -> None:
    # avg 231.667 V, max deviation 8.333 V -> 3.597 %
    assert sym.pvur_pct(230, 225, 240) == pytest.approx(8.3333333 / 231.6666667 * 100)


def test_line_magnitudes_assume_120_degrees() -> None:
    ab, bc, ca = sym.line_magnitudes_from_phase_magnitudes(120.0, 120.0, 120.0)
    assert ab == pytest.approx(120 * math.sqrt(3))
    ab, _, _ = sym.line_magnitudes_from_phase_magnitudes(114.0, 126.0, 120.0)
    assert ab == pytest.approx(math.sqrt(114**2 + 126**2 + 114 * 126))
    # the same as |Ua - Ub| of 120°-spaced phasors
    ua, ub, _ = sym.phasors_from_magnitudes(114.0, 126.0, 120.0)
    assert ab == pytest.approx(abs(ua - ub))


def test_zero_average_gives_nan() -> None:
    assert np.isnan(sym.max_deviation_from_mean_pct(0.0, 0.0, 0.0))
