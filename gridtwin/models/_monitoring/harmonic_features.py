"""Spectrum descriptors for the harmonic source classifier and the spectrum extraction from
a reading's waveform or reported harmonics (one code path for training and serving).

Harmonic magnitudes are IEC 61000-4-7 subgroups (``gridtwin.physics.harmonics``), orders
2..40 in % of the fundamental. Descriptors: log10 of each order's magnitude, and the shares of
the distortion power in the characteristic families (h = 6k±1 non-triplen odd, even, triplen,
high orders h ≥ 30 where PV-inverter switching sidebands sit), plus the THD itself.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridtwin.core.numeric import nan_to_num
from gridtwin.physics.harmonics import (
    THD_MAX_ORDER,
    harmonic_subgroups_rms,
    thd_pct_from_magnitudes,
)

ORDERS = np.arange(2, THD_MAX_ORDER + 1)
_FAMILIES = {
    "share_6k_pm1": (ORDERS % 2 == 1) & (ORDERS % 3 != 0),
    "share_even": ORDERS % 2 == 0,
    "share_triplen": ORDERS % 3 == 0,
    "share_high_ge30": ORDERS >= 30,
}
#: Floor of the log magnitudes (% of fundamental): below the 16-bit ADC resolution.
_LOG_FLOOR_PCT = 1e-3


def descriptor_names(prefix: str) -> list[str]:
    return [f"{prefix}log_h{h}" for h in ORDERS] + [f"{prefix}{k}" for k in _FAMILIES] + [f"{prefix}thd_pct"]


def spectrum_descriptors(pct: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, 39) magnitudes of orders 2..40 in % of the fundamental → (n, 44) descriptors."""
    m = nan_to_num(np.asarray(pct, dtype=float))
    power = m * m
    total = power.sum(axis=1)
    shares = [power[:, mask].sum(axis=1) / np.maximum(total, 1e-12) for mask in _FAMILIES.values()]
    return np.column_stack([np.log10(m + _LOG_FLOOR_PCT), *shares, np.sqrt(total)])


def waveform_spectra_pct(
    samples: NDArray[np.float64], sample_rate_hz: float, f1_hz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """IEC 61000-4-7 subgroups of (k, N) waveforms → (orders 2..40 in % of fundamental (k, 39),
    THD % (k,)). THD is exact by its definition (H = 40) on the measured window."""
    sg = harmonic_subgroups_rms(samples, sample_rate_hz, f1_hz)
    return magnitudes_to_pct(sg)


def magnitudes_to_pct(sg: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(k, ≥1) RMS magnitudes with element h−1 = order h → ((k, 39) % of fundamental, THD %).
    Orders not reported are NaN in the percentages and left out of THD."""
    sg = np.atleast_2d(np.asarray(sg, dtype=float))
    full = np.full((sg.shape[0], THD_MAX_ORDER), np.nan)
    width = min(sg.shape[1], THD_MAX_ORDER)
    full[:, :width] = sg[:, :width]
    u1 = full[:, :1]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(u1 > 0, full[:, 1:] / np.where(u1 > 0, u1, 1.0) * 100.0, np.nan)
    return pct, thd_pct_from_magnitudes(full)
