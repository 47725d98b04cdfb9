"""One scorer per model or model family: ``rows(answers, stream, cadence) -> list[Row]``.

Pure functions on (the flattened served answers, the held-out world's readings and truth).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers import (
    decisions,
    frequency_stability,
    load_forecast,
    not_assessable,
    overload_risk,
    phase_imbalance,
    reactive_power,
    voltage_anomaly,
    voltage_sag,
)
from training.serving_eval.verdict import Row

Scorer = Callable[[pd.DataFrame, HeldOutStream, str], list[Row]]
SCORERS: tuple[Scorer, ...] = (
    voltage_anomaly.rows,
    frequency_stability.rows,
    phase_imbalance.rows,
    voltage_sag.rows,
    overload_risk.rows,
    load_forecast.rows,
    reactive_power.rows,
    decisions.rows,
    not_assessable.rows,
)
