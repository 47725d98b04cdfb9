"""Multi-year hourly demand series for the long-series protocol (``gridtwin forecast long``).

No package on the reachable registries bundles a real multi-year hourly demand series (the
England & Wales one in pmdarima is 12 weeks), so both long series are synthetic, made
reproducibly here:

* ``bdew_town``: the simulator's source of demand shapes, demandlib's BDEW standard load
  profiles (H0 households, G0 trade, L0 farms; 15-min, holidays of the `holidays` calendar
  treated as Sundays, as BDEW does), mixed 45/45/10, times a heating term that follows the year,
  a weather anomaly (Ornstein–Uhlenbeck, 4-day time constant) and 1.5 % hourly noise;
* ``heldout_world``: the held-out world's own load source (``training.heldout.world``: two-peak
  daily shape, slowly wandering base load, Poisson appliance switching), 20 meters summed.
  It is not the training generator; it has no weekly, yearly or holiday structure.

``corrupt`` injects what real meter data has: upward spikes, dropouts to zero and missing hours;
forecasts read the corrupted series and are scored on the clean one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from training.forecast.data import LoadSeries

HOUR = pd.Timedelta(hours=1)


def _ou(rng: np.random.Generator, n: int, tau_steps: float, sigma: float) -> np.ndarray:
    from scipy.signal import lfilter

    a = np.exp(-1.0 / tau_steps)
    e = rng.normal(0.0, sigma * np.sqrt(1 - a * a), n)
    return lfilter([1.0], [1.0, -a], e)


def bdew_town(
    years: int = 6, first_year: int = 2015, country: str = "DE", region: str = "", seed: int = 0
) -> LoadSeries:
    """Hourly demand (kW) of a synthetic town from BDEW profiles with the holiday calendar
    (local time Europe/Berlin, stored in UTC)."""
    import demandlib.bdew as bdew
    import holidays

    parts = []
    for year in range(first_year, first_year + years):
        cal = holidays.country_holidays(country, subdiv=region or None, years=year)
        with warnings.catch_warnings():  # demandlib turns warnings into errors inside ElecSlp
            prof = bdew.ElecSlp(year, holidays=cal).get_scaled_power_profiles(
                {"h0": 4.5e6, "g0": 4.5e6, "l0": 1.0e6}
            )
        parts.append(prof.sum(axis=1).resample("1h").mean())
    kw = pd.concat(parts)
    kw = kw[~kw.index.duplicated()]
    rng = np.random.default_rng(seed)
    doy = kw.index.dayofyear.to_numpy()
    heating = 1 + 0.15 * np.cos(2 * np.pi * (doy - 15) / 365.25)
    weather = 1 + _ou(rng, len(kw), 4 * 24.0, 0.05)
    values = kw.to_numpy() * heating * weather * (1 + rng.normal(0, 0.015, len(kw)))
    start = kw.index[0].tz_localize("Europe/Berlin").tz_convert("UTC")
    return LoadSeries(values=values, start=start, step=HOUR, name="bdew_town_kw", tz="Europe/Berlin")


def heldout_world(years: int = 6, meters: int = 20, seed: int = 1, start: str = "2015-01-01") -> LoadSeries:
    """Hourly mean active power (W) of `meters` held-out-world meters summed (UTC calendar)."""
    from training.heldout.world import _daily_shape, _loads

    step = 900.0
    t0 = pd.Timestamp(start, tz="UTC")
    t = t0.value / 1e9 + np.arange(int(years * 365.25 * 96)) * step
    daily = _daily_shape(t)
    rng = np.random.default_rng(seed)
    total = np.zeros(len(t))
    for _ in range(meters):
        p_w, _pf = _loads(rng, t, step, daily)
        total += p_w.sum(axis=1)
    hourly = total[: len(t) // 4 * 4].reshape(-1, 4).mean(axis=1)
    return LoadSeries(values=hourly, start=t0, step=HOUR, name="heldout_world_w")


def corrupt(series: LoadSeries, seed: int = 0) -> LoadSeries:
    """A copy with 0.1 % upward spikes (×3–6), two 2-day dropouts to 0, 1 % missing hours and
    one 3-day gap, placed uniformly over the series."""
    rng = np.random.default_rng(seed)
    v = series.values.copy()
    n = len(v)
    spikes = rng.choice(n, n // 1000, replace=False)
    v[spikes] *= rng.uniform(3, 6, len(spikes))
    for a in rng.choice(n - 48, 2, replace=False):
        v[a : a + 48] = 0.0
    v[rng.choice(n, n // 100, replace=False)] = np.nan
    a = int(rng.integers(0, n - 72))
    v[a : a + 72] = np.nan
    return LoadSeries(values=v, start=series.start, step=series.step, name=series.name, tz=series.tz)
