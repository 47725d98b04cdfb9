"""Real data: England & Wales half-hourly electricity demand, 5 Jun - 27 Aug 2000.

Source: ``pmdarima.datasets.load_taylor`` (4,032 half-hourly points, MW), the series of
Taylor (2003), "Short-term electricity demand forecasting using double seasonal exponential
smoothing", J. Oper. Res. Soc. 54:799-805. Taylor protocol: fit on the first 8 weeks
(2,688 points), test on the last 4 weeks (1,344 points), horizons 1-48 half-hours.
"""

from __future__ import annotations

import pandas as pd

START = pd.Timestamp("2000-06-05 00:00", tz="UTC")
FIT_WEEKS = 8
TEST_WEEKS = 4
STEPS_PER_WEEK = 7 * 48


def load_taylor_demand() -> pd.Series:
    """Half-hourly demand (MW) with a UTC DatetimeIndex at 30-min frequency, name ``demand_mw``."""
    from pmdarima.datasets import load_taylor

    y = load_taylor(as_series=True).astype(float)
    idx = pd.date_range(START, periods=len(y), freq="30min")
    return pd.Series(y.to_numpy(), index=idx, name="demand_mw")


def taylor_split(y: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """Taylor (2003) protocol split: (fit = first 8 weeks, test = last 4 weeks)."""
    y = load_taylor_demand() if y is None else y
    n_fit = FIT_WEEKS * STEPS_PER_WEEK
    return y.iloc[:n_fit], y.iloc[n_fit : n_fit + TEST_WEEKS * STEPS_PER_WEEK]
