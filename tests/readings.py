"""Builders of valid and invalid readings for the tests."""

from __future__ import annotations

import itertools
import time

from gridtwin.v1 import reading_pb2

_clock = itertools.count()


def make_reading(
    meter_id: str = "meter-1",
    t: float | None = None,
    voltage_v: float = 230.0,
    current_a: float = 10.0,
    pf: float = 0.95,
    frequency_hz: float = 50.0,
    nominal_voltage: float | None = 230.0,
    nominal_frequency: float | None = 50.0,
) -> reading_pb2.Reading:
    """A physically consistent balanced reading (P = V·I·pf, Q = V·I·sin φ per phase)."""
    if t is None:
        t = time.time() - 3600 + next(_clock)
    r = reading_pb2.Reading(meter_id=meter_id, frequency=frequency_hz)
    r.timestamp.seconds = int(t)
    r.timestamp.nanos = int(round((t - int(t)) * 1e9))
    s = voltage_v * current_a
    q = s * (1 - pf * pf) ** 0.5
    for phase, k in zip("abc", (1.0, 1.01, 0.99), strict=True):
        setattr(r.voltage, phase, voltage_v * k)
        setattr(r.current, phase, current_a)
        setattr(r.active_power, phase, s * k * pf)
        setattr(r.reactive_power, phase, q * k)
    if nominal_voltage is not None:
        r.nominal_voltage = nominal_voltage
    if nominal_frequency is not None:
        r.nominal_frequency = nominal_frequency
    return r
