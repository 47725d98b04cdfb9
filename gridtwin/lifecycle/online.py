"""Online accuracy where the truth arrives later: the served load forecast against the load
that then happened, from the history database (docs/lifecycle.md).

The load forecast (gridtwin.models.load_forecast) answers, for a reading at time t, the mean
load (`active_power_total_w`, the sum of the phases, W) of 15-min intervals counted from the
end of the last complete interval E = ⌊t / 15 min⌋·15 min: horizon m minutes is the interval
(E + m − 15 min, E + m]. A reading's timestamp is the end of the span it measures, so a reading
stamped on a boundary belongs to the interval it ends (gridtwin.core.intervals; a 15-min AMI
average stamped 10:15 is 10:00-10:15). Here each stored forecast of one horizon is paired with the mean of
the stored readings in its interval, once per (interval, version) — every reading of an
interval carries the same cached forecast — and the MAPE per version is set beside the figure
the model reports from held-out data (`mape_pct`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from gridtwin.v1 import assessment_pb2

STEP_S = 900
US = 1_000_000


@dataclass(frozen=True)
class ForecastAccuracy:
    version: str
    horizon_minutes: int
    intervals: int  # forecast intervals with an actual to compare
    mape_pct: float  # online, over those intervals
    registry_mape_pct: float  # what the model reports (held-out data), mean over its answers


def _interval_means(rows: list[dict[str, Any]]) -> dict[int, float]:
    """Mean total active power (W) per 15-min interval, keyed by the interval's end (s)."""
    sums: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for row in rows:
        power = [row.get(f"active_power_{p}_w") for p in "abc"]
        if any(p is None for p in power):
            continue
        end = -(-row["time_us"] // (STEP_S * US)) * STEP_S  # ceil: (end − 15 min, end] holds t
        sums[end] += float(sum(power))
        counts[end] += 1
    return {end: sums[end] / counts[end] for end in sums}


def _forecasts(
    blobs: list[tuple[int, bytes]], horizon_minutes: int
) -> dict[tuple[int, str], tuple[float, float]]:
    """(interval end s, version) → (forecast W, reported MAPE %), first answer per interval."""
    out: dict[tuple[int, str], tuple[float, float]] = {}
    for time_us, blob in blobs:
        forecast = assessment_pb2.Assessment.FromString(blob).load_forecast
        if forecast.info.status != assessment_pb2.OK:
            continue
        point = next((p for p in forecast.forecasted_load if p.horizon_minutes == horizon_minutes), None)
        if point is None:
            continue
        last_complete_end = time_us // US // STEP_S * STEP_S
        key = (last_complete_end + horizon_minutes * 60, forecast.info.model_version)
        out.setdefault(key, (point.load_w, forecast.mape_pct))
    return out


def forecast_accuracy(
    repository: Any,
    meter_id: str,
    start_us: int,
    end_us: int,
    horizon_minutes: int = 60,
    min_load_w: float = 1.0,
) -> list[ForecastAccuracy]:
    """Online MAPE per model version of the forecasts whose target interval ends in (start, end].

    Intervals whose actual mean load is below `min_load_w` in magnitude are left out (a
    percentage error of a near-zero load says nothing)."""
    lead_us = (horizon_minutes * 60 + STEP_S) * US
    forecasts = _forecasts(repository.assessment_blobs(meter_id, start_us - lead_us, end_us), horizon_minutes)
    actuals = _interval_means(repository.assessment_rows(meter_id, start_us - STEP_S * US, end_us))
    errors: dict[str, list[float]] = defaultdict(list)
    reported: dict[str, list[float]] = defaultdict(list)
    for (interval_end, version), (predicted, mape) in forecasts.items():
        actual = actuals.get(interval_end)
        if actual is None or not start_us < interval_end * US <= end_us or abs(actual) < min_load_w:
            continue
        errors[version].append(abs(predicted - actual) / abs(actual))
        reported[version].append(mape)
    return [
        ForecastAccuracy(
            version=version,
            horizon_minutes=horizon_minutes,
            intervals=len(errs),
            mape_pct=100.0 * sum(errs) / len(errs),
            registry_mape_pct=sum(reported[version]) / len(reported[version]),
        )
        for version, errs in sorted(errors.items())
    ]
