"""Property-based tests of reading validation: valid readings pass, every kind of corruption
is rejected naming its field (gridtwin.ingest.validation)."""

from __future__ import annotations

import math
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridtwin.ingest.validation import (
    DEFAULT_MIN_TIMESTAMP_S,
    STANDARD_NOMINAL_FREQUENCIES_HZ,
    STANDARD_NOMINAL_VOLTAGES_V,
    Limits,
    StoredNominal,
    validate_reading,
)
from gridtwin.v1 import reading_pb2

LIMITS = Limits()
NOW = 1_900_000_000.0  # fixed "now" (2030), so generated timestamps are reproducible
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

meter_ids = st.from_regex(r"[A-Za-z0-9._:/-]{1,128}", fullmatch=True)


@st.composite
def valid_readings(draw: st.DrawFn) -> reading_pb2.Reading:
    """A physically consistent reading: V within ±20 % of a standard nominal, |P|,|Q| ≤ V·I."""
    nominal_v = draw(st.sampled_from(STANDARD_NOMINAL_VOLTAGES_V))
    nominal_f = draw(st.sampled_from(STANDARD_NOMINAL_FREQUENCIES_HZ))
    r = reading_pb2.Reading(meter_id=draw(meter_ids))
    r.timestamp.seconds = draw(st.integers(DEFAULT_MIN_TIMESTAMP_S, int(NOW)))
    r.timestamp.nanos = draw(st.integers(0, 999_999_999))
    r.frequency = nominal_f * draw(st.floats(0.95, 1.05))
    # Above the largest LV nominal a meter must declare (or have registered) its nominal.
    if nominal_v > 347.0 or draw(st.booleans()):
        r.nominal_voltage = nominal_v
        r.nominal_frequency = nominal_f
    for phase in "abc":
        v = nominal_v * draw(st.floats(0.8, 1.2))
        i = draw(st.floats(0.0, 1000.0))
        pf = draw(st.floats(-1.0, 1.0))
        setattr(r.voltage, phase, v)
        setattr(r.current, phase, i)
        setattr(r.active_power, phase, v * i * pf)
        setattr(
            r.reactive_power, phase, v * i * math.sqrt(max(0.0, 1 - pf * pf)) * draw(st.sampled_from([1, -1]))
        )
    return r


def _stored_for(r: reading_pb2.Reading) -> StoredNominal | None:
    return (
        StoredNominal(r.nominal_voltage, r.nominal_frequency, False, False)
        if r.HasField("nominal_voltage")
        else None
    )


def _fields(r: reading_pb2.Reading, stored: StoredNominal | None = None) -> set[str]:
    return {v.field for v in validate_reading(r, stored, LIMITS, NOW)}


@PROPERTY
@given(valid_readings())
def test_valid_readings_are_accepted(reading):
    assert validate_reading(reading, None, LIMITS, NOW) == []
    assert validate_reading(reading, _stored_for(reading), LIMITS, NOW) == []


CORRUPTIONS = {
    # name: (change, field the violation must name)
    "NaN voltage": (lambda r, d: setattr(r.voltage, d(st.sampled_from("abc")), math.nan), "voltage."),
    "infinite current": (lambda r, d: setattr(r.current, d(st.sampled_from("abc")), math.inf), "current."),
    "negative voltage": (
        lambda r, d: setattr(r.voltage, d(st.sampled_from("abc")), -d(st.floats(0.1, 1e4))),
        "voltage.",
    ),
    "current beyond the bound": (
        lambda r, d: setattr(r.current, d(st.sampled_from("abc")), d(st.floats(1.0001e5, 1e12))),
        "current.",
    ),
    "power beyond the bound": (
        lambda r, d: setattr(
            r.active_power, d(st.sampled_from("abc")), d(st.sampled_from([1, -1])) * d(st.floats(5.1e7, 1e15))
        ),
        "active_power.",
    ),
    "timestamp before 2000": (
        lambda r, d: setattr(r.timestamp, "seconds", d(st.integers(1, DEFAULT_MIN_TIMESTAMP_S - 1))),
        "timestamp",
    ),
    "timestamp in the future": (
        lambda r, d: setattr(r.timestamp, "seconds", int(NOW) + d(st.integers(301, 10**9))),
        "timestamp",
    ),
    "nanos out of range": (
        lambda r, d: setattr(
            r.timestamp, "nanos", d(st.integers(1_000_000_000, 2**31 - 1) | st.integers(-(2**31), -1))
        ),
        "timestamp.nanos",
    ),
    "meter id with a trailing newline": (
        lambda r, d: setattr(r, "meter_id", r.meter_id[:127] + "\n"),
        "meter_id",
    ),
    "meter id with a space": (lambda r, d: setattr(r, "meter_id", "m " + r.meter_id[:100]), "meter_id"),
    "frequency out of range": (
        lambda r, d: setattr(r, "frequency", d(st.floats(70.01, 1e6) | st.floats(0.001, 39.99))),
        "frequency",
    ),
    "non-standard nominal voltage": (
        lambda r, d: setattr(r, "nominal_voltage", d(st.sampled_from([1e6, 5000.0, 199.0, 1.0]))),
        "nominal_voltage",
    ),
    "non-standard nominal frequency": (
        lambda r, d: setattr(r, "nominal_frequency", d(st.sampled_from([55.0, 400.0, 16.7]))),
        "nominal_frequency",
    ),
    "waveform longer than the cap": (
        lambda r, d: (
            setattr(r.waveform, "sample_rate_hz", 6400.0),
            r.waveform.voltage_a.extend([1.0] * 16_385),
        ),
        "waveform.voltage_a",
    ),
    "too many harmonic orders": (
        lambda r, d: r.harmonics.voltage_b.extend([1.0] * 101),
        "harmonics.voltage_b",
    ),
}


@PROPERTY
@given(valid_readings(), st.sampled_from(sorted(CORRUPTIONS)), st.data())
def test_each_corruption_is_rejected_naming_its_field(reading, kind, data):
    change, field = CORRUPTIONS[kind]
    change(reading, data.draw)
    named = _fields(reading)
    assert any(f == field or (field.endswith(".") and f.startswith(field)) for f in named), (kind, named)


@PROPERTY
@given(valid_readings(), st.sampled_from(STANDARD_NOMINAL_VOLTAGES_V))
def test_one_reading_cannot_rewrite_a_registered_nominal(reading, other_v):
    registered = StoredNominal(
        voltage_v=230.0, frequency_hz=50.0, voltage_inferred=False, frequency_inferred=False
    )
    reading.nominal_voltage = other_v
    reading.nominal_frequency = 50.0
    for phase in "abc":  # keep the measurement itself plausible for the registered nominal
        setattr(reading.voltage, phase, 230.0)
        setattr(reading.current, phase, 1.0)
        setattr(reading.active_power, phase, 200.0)
        setattr(reading.reactive_power, phase, 50.0)
    reading.frequency = 50.0
    named = _fields(reading, registered)
    assert ("nominal_voltage" in named) == (abs(other_v - 230.0) > 1.15)


def test_an_inferred_profile_accepts_a_declared_standard_nominal():
    inferred = StoredNominal(
        voltage_v=230.0, frequency_hz=50.0, voltage_inferred=True, frequency_inferred=True
    )
    r = reading_pb2.Reading(meter_id="m-1", frequency=60.0, nominal_voltage=120.0, nominal_frequency=60.0)
    r.timestamp.seconds = int(time.time()) - 10
    for q, value in (
        ("voltage", 120.0),
        ("current", 5.0),
        ("active_power", 550.0),
        ("reactive_power", 100.0),
    ):
        for phase in "abc":
            setattr(getattr(r, q), phase, value)
    assert validate_reading(r, inferred, LIMITS) == []


def test_a_megavolt_nominal_does_not_open_the_voltage_bound():
    # One reading declaring 1 MV must neither pass nor let a 2 MV measurement through.
    r = reading_pb2.Reading(meter_id="m-1", frequency=50.0, nominal_voltage=1e6, nominal_frequency=50.0)
    r.timestamp.seconds = int(NOW) - 10
    for q, value in (("voltage", 2e6), ("current", 1.0), ("active_power", 1e5), ("reactive_power", 0.0)):
        for phase in "abc":
            setattr(getattr(r, q), phase, value)
    named = _fields(r)
    assert "nominal_voltage" in named and "voltage.a" in named
