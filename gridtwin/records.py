"""Conversion between flat reading records (the simulator's and the datasets' column names)
and `gridtwin.v1.Reading` messages."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from gridtwin.v1 import reading_pb2

PHASED = ("voltage", "current", "active_power", "reactive_power")


def _seconds(ts: Any) -> tuple[int, int]:
    if isinstance(ts, pd.Timestamp):
        ns = ts.tz_localize("UTC").value if ts.tzinfo is None else ts.value
    elif isinstance(ts, datetime):
        ns = int((ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp() * 1e9)
    else:
        ns = int(float(ts) * 1e9)
    return ns // 1_000_000_000, ns % 1_000_000_000


def reading_from_record(record: Mapping[str, Any]) -> reading_pb2.Reading:
    """Build a Reading from a record with columns `meter_id`, `timestamp`, `voltage_a` …
    `reactive_power_c`, `frequency` and optional `nominal_voltage`, `nominal_frequency`,
    `ambient_temperature`."""
    reading = reading_pb2.Reading(meter_id=str(record["meter_id"]), frequency=float(record["frequency"]))
    seconds, nanos = _seconds(record["timestamp"])
    reading.timestamp.seconds, reading.timestamp.nanos = seconds, nanos
    for quantity in PHASED:
        values = getattr(reading, quantity)
        values.a = float(record[f"{quantity}_a"])
        values.b = float(record[f"{quantity}_b"])
        values.c = float(record[f"{quantity}_c"])
    for optional in ("nominal_voltage", "nominal_frequency", "ambient_temperature"):
        value = record.get(optional)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            setattr(reading, optional, float(value))
    return reading


def record_from_reading(reading: reading_pb2.Reading) -> dict[str, Any]:
    record: dict[str, Any] = {
        "meter_id": reading.meter_id,
        "timestamp": pd.Timestamp(
            reading.timestamp.seconds * 1_000_000_000 + reading.timestamp.nanos, tz="UTC"
        ),
        "frequency": reading.frequency,
    }
    for quantity in PHASED:
        values = getattr(reading, quantity)
        for phase in "abc":
            record[f"{quantity}_{phase}"] = getattr(values, phase)
    for optional in ("nominal_voltage", "nominal_frequency", "ambient_temperature"):
        record[optional] = getattr(reading, optional) if reading.HasField(optional) else math.nan
    return record
