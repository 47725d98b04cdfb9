"""Validation of one Reading: every field, physical bounds, per-meter nominal values.

Each rule returns field violations named by their proto path ("voltage.a", "timestamp"), so
the client sees exactly what is wrong. Bounds are relative to the meter's nominal values
(never an assumed 230 V / 50 Hz); tolerances are environment-configurable.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from gridtwin.core.config import env_float
from gridtwin.core.errors import FieldViolation
from gridtwin.v1 import reading_pb2

PHASES = ("a", "b", "c")
METER_ID = re.compile(r"^[A-Za-z0-9._:/-]{1,128}$")
# Largest standard LV phase-to-neutral nominal (347 V, North American 600 V systems): the bound
# for a meter that has neither declared nor stored a nominal voltage.
MAX_STANDARD_NOMINAL_V = 347.0


@dataclass(frozen=True)
class Limits:
    max_voltage_pu: float = 2.0
    min_frequency_hz: float = 40.0
    max_frequency_hz: float = 70.0
    # |P| or |Q| may exceed V·I by this relative tolerance plus an absolute allowance (meter
    # accuracy classes and the non-simultaneity of RMS and power integration).
    power_rel_tolerance: float = 0.05
    power_abs_tolerance_va: float = 5.0
    max_future_s: float = 300.0
    min_ambient_c: float = -70.0
    max_ambient_c: float = 70.0

    @classmethod
    def from_env(cls) -> Limits:
        return cls(
            max_voltage_pu=env_float("INGEST_MAX_VOLTAGE_PU", 2.0),
            power_rel_tolerance=env_float("INGEST_POWER_TOLERANCE", 0.05),
            max_future_s=env_float("INGEST_MAX_FUTURE_S", 300.0),
        )


def _finite(value: float) -> bool:
    return math.isfinite(value)


def validate_reading(
    reading: reading_pb2.Reading,
    stored_nominal_v: float | None,
    limits: Limits,
    now_s: float | None = None,
) -> list[FieldViolation]:
    """All violations of one reading (empty list = valid).

    `stored_nominal_v` is the meter's nominal phase-to-neutral voltage from its profile,
    used when the reading does not declare one.
    """
    out: list[FieldViolation] = []
    add = out.append
    now_s = time.time() if now_s is None else now_s

    if not reading.meter_id:
        add(FieldViolation("meter_id", "missing"))
    elif not METER_ID.match(reading.meter_id):
        add(FieldViolation("meter_id", "must be 1-128 characters of [A-Za-z0-9._:/-]"))

    if not reading.HasField("timestamp") or (reading.timestamp.seconds == 0 and reading.timestamp.nanos == 0):
        add(FieldViolation("timestamp", "missing"))
    elif reading.timestamp.seconds + reading.timestamp.nanos * 1e-9 > now_s + limits.max_future_s:
        ahead = reading.timestamp.seconds - now_s
        add(FieldViolation("timestamp", f"{ahead:.0f} s in the future (limit {limits.max_future_s:.0f} s)"))

    nominal_v = stored_nominal_v
    if reading.HasField("nominal_voltage"):
        if not _finite(reading.nominal_voltage) or reading.nominal_voltage <= 0:
            add(FieldViolation("nominal_voltage", "must be a positive finite voltage in V"))
        else:
            nominal_v = reading.nominal_voltage
    if reading.HasField("nominal_frequency"):
        f_n = reading.nominal_frequency
        if not _finite(f_n) or not (limits.min_frequency_hz <= f_n <= limits.max_frequency_hz):
            add(FieldViolation("nominal_frequency", "must be a finite frequency in 40-70 Hz"))

    quantities = ("voltage", "current", "active_power", "reactive_power")
    present = {}
    for quantity in quantities:
        if not reading.HasField(quantity):
            add(FieldViolation(quantity, "missing"))
            continue
        values = getattr(reading, quantity)
        ok = True
        for phase in PHASES:
            value = getattr(values, phase)
            path = f"{quantity}.{phase}"
            if not _finite(value):
                add(FieldViolation(path, "not a finite number"))
                ok = False
            elif quantity in ("voltage", "current") and value < 0:
                add(FieldViolation(path, "an RMS value cannot be negative"))
                ok = False
        if ok:
            present[quantity] = values

    voltage = present.get("voltage")
    if voltage is not None:
        bound = limits.max_voltage_pu * (nominal_v if nominal_v else MAX_STANDARD_NOMINAL_V)
        basis = f"{limits.max_voltage_pu:g} pu of {nominal_v:g} V" if nominal_v else f"{bound:g} V"
        for phase in PHASES:
            if getattr(voltage, phase) > bound:
                add(FieldViolation(f"voltage.{phase}", f"{getattr(voltage, phase):g} V exceeds {basis}"))

    current = present.get("current")
    if voltage is not None and current is not None:
        for quantity in ("active_power", "reactive_power"):
            values = present.get(quantity)
            if values is None:
                continue
            for phase in PHASES:
                s_va = getattr(voltage, phase) * getattr(current, phase)
                limit = s_va * (1 + limits.power_rel_tolerance) + limits.power_abs_tolerance_va
                value = getattr(values, phase)
                if abs(value) > limit:
                    add(
                        FieldViolation(
                            f"{quantity}.{phase}",
                            f"|{value:g}| exceeds V*I = {s_va:g} VA of phase {phase}",
                        )
                    )

    f = reading.frequency
    if not _finite(f):
        add(FieldViolation("frequency", "not a finite number"))
    elif f == 0:
        add(FieldViolation("frequency", "missing"))
    elif not (limits.min_frequency_hz <= f <= limits.max_frequency_hz):
        add(
            FieldViolation(
                "frequency", f"{f:g} Hz outside {limits.min_frequency_hz:g}-{limits.max_frequency_hz:g} Hz"
            )
        )

    if reading.HasField("ambient_temperature"):
        t = reading.ambient_temperature
        if not _finite(t) or not (limits.min_ambient_c <= t <= limits.max_ambient_c):
            add(FieldViolation("ambient_temperature", "must be a finite temperature in -70-70 degC"))

    if reading.HasField("waveform"):
        out.extend(_validate_waveform(reading.waveform))
    if reading.HasField("harmonics"):
        for phase in PHASES:
            values = getattr(reading.harmonics, f"voltage_{phase}")
            if any(not _finite(v) or v < 0 for v in values):
                add(FieldViolation(f"harmonics.voltage_{phase}", "magnitudes must be finite and >= 0"))
    return out


def _validate_waveform(waveform: reading_pb2.Waveform) -> list[FieldViolation]:
    out = []
    channels = ("voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c")
    lengths = {len(getattr(waveform, ch)) for ch in channels if len(getattr(waveform, ch))}
    if not lengths:
        return out
    if not _finite(waveform.sample_rate_hz) or waveform.sample_rate_hz <= 0:
        out.append(FieldViolation("waveform.sample_rate_hz", "must be a positive finite rate in Hz"))
    if len(lengths) > 1:
        out.append(FieldViolation("waveform", "channels must have the same number of samples"))
    for ch in channels:
        samples = getattr(waveform, ch)
        if samples and not all(_finite(v) for v in samples):
            out.append(FieldViolation(f"waveform.{ch}", "samples must be finite"))
    return out
