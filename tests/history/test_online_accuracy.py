"""The served forecast's online MAPE from stored history (gridtwin.lifecycle.online)."""

from __future__ import annotations

import pytest

from gridtwin.history.repository import Repository
from gridtwin.lifecycle.online import forecast_accuracy
from gridtwin.v1 import assessment_pb2
from tests.history.items import T0_S, item

LOAD_W = 3000.0


def _stored(t_s: int, version: str, forecast_w: float):
    entry = item("m-1", t_s)
    for phase in "abc":
        setattr(entry.reading.active_power, phase, LOAD_W / 3)
    forecast = entry.assessment.load_forecast
    forecast.info.status = assessment_pb2.OK
    forecast.info.model_version = version
    forecast.mape_pct = 7.5
    forecast.forecasted_load.add(horizon_minutes=15, load_w=forecast_w * 2)  # another horizon: ignored
    forecast.forecasted_load.add(horizon_minutes=60, load_w=forecast_w)
    return entry


def test_each_version_is_scored_against_the_load_that_then_happened(sqlite_url):
    repo = Repository(sqlite_url)
    repo.create_schema()
    # Four hours of 1-min readings at a steady 3 kW; the first two hours answered by v1
    # (forecasting 10 % too high), the next two by v2 (5 % too low).
    items = [
        _stored(T0_S + 60 * k, "v1" if k < 120 else "v2", LOAD_W * (1.10 if k < 120 else 0.95))
        for k in range(240)
    ]
    repo.write(items)
    result = {
        a.version: a for a in forecast_accuracy(repo, "m-1", T0_S * 10**6, (T0_S + 4 * 3600) * 10**6, 60)
    }
    assert result["v1"].mape_pct == pytest.approx(10.0) and result["v2"].mape_pct == pytest.approx(5.0)
    assert result["v1"].registry_mape_pct == pytest.approx(7.5)
    # A forecast targets the interval ending 1 h after the reading's last complete interval:
    # v1's readings (minutes 0-119) have 8 last complete interval ends (0, 15, … 105 min) →
    # targets ending at 60 … 165 min; v2's (minutes 120-239) → targets at 180 … 285 min, of
    # which the 5 ending by the 4-h mark (240 min) are scored.
    assert result["v1"].intervals == 8 and result["v2"].intervals == 5
    repo.dispose()
