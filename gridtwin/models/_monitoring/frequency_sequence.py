"""Input sequences of the frequency LSTM from the feature vector's lag columns (one code path
for training and serving).

``frequency_lag_k`` (Hz, lag 0 = this reading) and ``dt_lag_k`` (s, real time between the
readings k and k+1 steps back) give 10 steps; they are ordered oldest → newest and each step
carries 8 inputs (scaled to order one):

0. (f_k − f_n) × 10, Hz                 4. Δf_k/Δt_k × 10, Hz/s (ROCOF with the real Δt)
1. (f_k − f_0) × 10, Hz (f_0 = newest)  5. (t_0 − t_k) / 60, s → min
2. Δt_k / 60, s → min                   6. f_n / 50 − 1 (0 at 50 Hz, 0.2 at 60 Hz)
3. ln(1 + Δt_k) / 4                     7. 1 if the step exists, else 0 (then inputs 0–5 are 0)

The target is the change over persistence, (f(t_0 + 5 s) − f_0) × 10.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from gridtwin.core.numeric import nan_to_num

N_STEPS = 10
N_INPUTS = 8
HORIZON_S = 5.0
SCALE_HZ = 10.0  # inputs and target in units of 0.1 Hz

FREQ_COLUMNS = tuple(f"frequency_lag_{k}" for k in range(N_STEPS))
DT_COLUMNS = tuple(f"dt_lag_{k}" for k in range(N_STEPS))


def build_sequences(
    freq_lags: NDArray[np.float64], dt_lags: NDArray[np.float64], f_nominal: NDArray[np.float64]
) -> NDArray[np.float64]:
    """(n, 10) frequency lags, (n, 10) Δt lags (lag order, 0 = newest), (n,) f_n → (n, 10, 8)."""
    f = np.asarray(freq_lags, dtype=float)[:, ::-1]  # oldest → newest
    dt = np.asarray(dt_lags, dtype=float)[:, ::-1]
    fn = np.asarray(f_nominal, dtype=float)
    n = f.shape[0]
    present = np.isfinite(f)
    f0 = f[:, -1:]
    dt_ok = np.isfinite(dt) & (dt > 0)
    dt_z = np.where(dt_ok, dt, 0.0)
    prev = np.concatenate([np.full((n, 1), np.nan), f[:, :-1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rocof = np.where(dt_ok & np.isfinite(prev) & present, (f - prev) / np.where(dt_ok, dt, 1.0), 0.0)
    # Time before the newest reading: cumulative Δt of the newer steps.
    age = np.concatenate([np.cumsum(dt_z[:, :0:-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    x = np.zeros((n, N_STEPS, N_INPUTS))
    x[..., 0] = np.where(present, (f - fn[:, None]) * SCALE_HZ, 0.0)
    x[..., 1] = np.where(present, (f - f0) * SCALE_HZ, 0.0)
    x[..., 2] = np.where(present, dt_z / 60.0, 0.0)
    x[..., 3] = np.where(present, np.log1p(dt_z) / 4.0, 0.0)
    x[..., 4] = np.where(present, rocof * SCALE_HZ, 0.0)
    x[..., 5] = np.where(present, age / 60.0, 0.0)
    x[..., 6] = (fn / 50.0 - 1.0)[:, None]
    x[..., 7] = present.astype(float)
    return nan_to_num(x)
