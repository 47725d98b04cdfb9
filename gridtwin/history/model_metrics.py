"""Online figures per model version from the history database (the history service's
`OnlineMetrics`, shown by the gateway's ModelHealth and exported as Prometheus gauges there):

* load_forecast: the served forecast's MAPE over the last day against the load that then
  happened (gridtwin.lifecycle.online, 60-min horizon), over every meter with recent history,
  beside the MAPE the model reports from held-out data;
* every model: alarm precision from operators' acknowledgements (gridtwin.history.acks).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from gridtwin.history.acks import verdict_counts
from gridtwin.lifecycle.online import forecast_accuracy
from gridtwin.v1 import services_pb2

US = 1_000_000
HORIZON_MINUTES = 60
MAX_METERS = 1000  # the meters scored per call (the most recently active first is not needed: all)


def forecast_by_version(repo: Any, start_us: int, end_us: int) -> dict[str, tuple[int, float, float]]:
    """version → (intervals, online MAPE %, reported MAPE %) over every meter seen since `start_us`,
    each meter's intervals weighted equally."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for meter in repo.list_meters(limit=MAX_METERS):
        if meter.last_us < start_us:
            continue
        for acc in forecast_accuracy(repo, meter.meter_id, start_us, end_us, HORIZON_MINUTES):
            total = sums[acc.version]
            total[0] += acc.intervals
            total[1] += acc.mape_pct * acc.intervals
            total[2] += acc.registry_mape_pct * acc.intervals
    return {v: (int(n), err / n, rep / n) for v, (n, err, rep) in sums.items() if n}


def online_metrics(
    repo: Any, models: list[str], window_s: int, now_us: int
) -> list[services_pb2.OnlineMetrics]:
    """Per (model, version) with history: the forecast's online MAPE and the alarm precision."""
    rows: dict[tuple[str, str], services_pb2.OnlineMetrics] = {}

    def row(model: str, version: str) -> services_pb2.OnlineMetrics:
        if (model, version) not in rows:
            rows[(model, version)] = services_pb2.OnlineMetrics(
                model=model, version=version, alarm_precision=math.nan
            )
        return rows[(model, version)]

    if "load_forecast" in models:
        start_us = now_us - window_s * US
        for version, (n, mape, reported) in forecast_by_version(repo, start_us, now_us).items():
            r = row("load_forecast", version)
            r.forecast_intervals, r.online_mape_pct, r.registry_mape_pct = n, mape, reported
    for (model, version), counts in verdict_counts(repo).items():
        if model not in models:
            continue
        r = row(model, version)
        r.alarms_confirmed = counts.get(services_pb2.CONFIRMED, 0)
        r.alarms_dismissed = counts.get(services_pb2.DISMISSED, 0)
        judged = r.alarms_confirmed + r.alarms_dismissed
        r.alarm_precision = r.alarms_confirmed / judged if judged else math.nan
    return [rows[k] for k in sorted(rows)]
