"""Validation of one Reading: every field, physical bounds, per-meter nominal values.

Each rule returns field violations named by their proto path ("voltage.a", "timestamp"), so
the client sees exactly what is wrong. Bounds are relative to the meter's nominal values
(never an assumed 230 V / 50 Hz); every bound is environment-configurable (README, `INGEST_*`).

Nominal values: a reading may declare its meter's nominal voltage and frequency, but one
reading cannot rewrite a meter's profile. A declared nominal must be
  * the meter's stored (non-inferred) profile value, or
  * when the meter has no profile yet (or only an inferred one), a standard value: the
    IEC 60038 (2009) phase-to-neutral nominal voltages of Tables 1 (LV a.c. systems:
    120/208, 230/400, 277/480, 347/600 V and the 100, 110, 115, 127, 220, 240 V systems
    still in service) and 3-4 (MV systems 3.3 kV to 35 kV, divided by √3), or one listed in
    `INGEST_NOMINAL_VOLTAGES_V`; and 50 or 60 Hz (IEC 60196).
A changed nominal is an asset-register change made by an operator, not by a reading.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

from gridtwin.core.config import settings
from gridtwin.core.errors import FieldViolation
from gridtwin.features.nominal import STANDARD_NOMINAL_FREQUENCIES_HZ
from gridtwin.features.nominal import STANDARD_NOMINAL_VOLTAGES_V as LV_NOMINAL_VOLTAGES_V
from gridtwin.v1 import reading_pb2

PHASES = ("a", "b", "c")
METER_ID = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
# Largest standard LV phase-to-neutral nominal (347 V, North American 600 V systems): the bound
# for a meter that has neither declared nor stored a nominal voltage.
MAX_STANDARD_NOMINAL_V = 347.0
_SQRT3 = math.sqrt(3.0)
#: IEC 60038 phase-to-neutral nominal voltages, V: the LV values the feature pipeline infers
#: nominals from, then 400 V and the MV line-to-line values / √3.
STANDARD_NOMINAL_VOLTAGES_V: tuple[float, ...] = (
    *LV_NOMINAL_VOLTAGES_V,
    400.0,
    *(
        round(kv * 1000 / _SQRT3, 3)
        for kv in (3.0, 3.3, 6.0, 6.6, 10.0, 11.0, 13.8, 15.0, 20.0, 22.0, 33.0, 35.0)
    ),
)
#: Relative tolerance when matching a declared nominal to a standard or stored value.
NOMINAL_MATCH_TOLERANCE = 0.005
NANOS_PER_SECOND = 1_000_000_000
DEFAULT_MIN_TIMESTAMP_S = 946_684_800  # 2000-01-01T00:00:00Z
WAVEFORM_CHANNELS = ("voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c")


def _parse_voltages(raw: str) -> tuple[float, ...]:
    return tuple(float(v) for v in raw.replace(";", ",").split(",") if v.strip())


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
    min_timestamp_s: float = DEFAULT_MIN_TIMESTAMP_S
    # Per-phase RMS current bound, A: 100 kA is beyond any distribution-level steady state
    # (a 2.5 MVA, 400 V transformer is 3.6 kA rated), so only corrupt values exceed it.
    max_current_a: float = 100_000.0
    # Per-phase |P| and |Q| bound, W / var (50 MW: an MV feeder head at 35 kV).
    max_power_w: float = 50_000_000.0
    min_ambient_c: float = -70.0
    max_ambient_c: float = 70.0
    max_waveform_samples: int = 16_384  # per channel (e.g. 10 cycles at 1024 samples/cycle)
    max_harmonic_orders: int = 100  # IEC 61000-4-7 evaluates up to order 50 (100 with interharmonics)
    extra_nominal_voltages_v: tuple[float, ...] = field(default_factory=tuple)

    @classmethod
    def from_env(cls) -> Limits:
        """The limits from the process's Settings (the `INGEST_*` variables)."""
        cfg = settings()
        return cls(
            max_voltage_pu=cfg.ingest_max_voltage_pu,
            power_rel_tolerance=cfg.ingest_power_tolerance,
            max_future_s=cfg.ingest_max_future_s,
            min_timestamp_s=cfg.ingest_min_timestamp_s,
            max_current_a=cfg.ingest_max_current_a,
            max_power_w=cfg.ingest_max_power_w,
            max_waveform_samples=cfg.ingest_max_waveform_samples,
            extra_nominal_voltages_v=_parse_voltages(cfg.ingest_nominal_voltages_v),
        )

    @property
    def nominal_voltages_v(self) -> tuple[float, ...]:
        return STANDARD_NOMINAL_VOLTAGES_V + self.extra_nominal_voltages_v


@dataclass(frozen=True)
class StoredNominal:
    """A meter's stored profile values (V phase-to-neutral, Hz) and whether they were inferred."""

    voltage_v: float | None = None
    frequency_hz: float | None = None
    voltage_inferred: bool = True
    frequency_inferred: bool = True


def _finite(value: float) -> bool:
    return math.isfinite(value)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= NOMINAL_MATCH_TOLERANCE * max(abs(b), 1e-9)


def _check_nominal(
    path: str, declared: float, stored: float | None, inferred: bool, standard: tuple[float, ...], unit: str
) -> FieldViolation | None:
    if stored is not None and not inferred:
        if _close(declared, stored):
            return None
        return FieldViolation(
            path,
            f"{declared:g} {unit} differs from the meter's profile ({stored:g} {unit}); "
            "a changed nominal goes through the asset register, not a reading",
        )
    if any(_close(declared, s) for s in standard):
        return None
    shown = ", ".join(f"{s:g}" for s in standard[:12])
    return FieldViolation(path, f"{declared:g} {unit} is not a standard nominal ({shown}, …)")


def validate_reading(
    reading: reading_pb2.Reading,
    stored: StoredNominal | float | None,
    limits: Limits,
    now_s: float | None = None,
) -> list[FieldViolation]:
    """All violations of one reading (empty list = valid).

    `stored` is the meter's stored profile (or just its nominal phase-to-neutral voltage in V,
    treated as registered), used when the reading does not declare one and to check a
    declared one.
    """
    if stored is None:
        stored = StoredNominal()
    elif not isinstance(stored, StoredNominal):
        stored = StoredNominal(voltage_v=float(stored), voltage_inferred=False)
    out: list[FieldViolation] = []
    add = out.append
    now_s = time.time() if now_s is None else now_s

    if not reading.meter_id:
        add(FieldViolation("meter_id", "missing"))
    elif not METER_ID.fullmatch(reading.meter_id):
        add(FieldViolation("meter_id", "must be 1-128 characters of [A-Za-z0-9._:/-]"))

    ts = reading.timestamp
    if not reading.HasField("timestamp") or (ts.seconds == 0 and ts.nanos == 0):
        add(FieldViolation("timestamp", "missing"))
    elif not (0 <= ts.nanos < NANOS_PER_SECOND):
        add(FieldViolation("timestamp.nanos", f"{ts.nanos} outside 0-999999999"))
    elif ts.seconds < limits.min_timestamp_s:
        add(
            FieldViolation(
                "timestamp", f"{ts.seconds} s is before the minimum {limits.min_timestamp_s:.0f} s"
            )
        )
    elif ts.seconds + ts.nanos * 1e-9 > now_s + limits.max_future_s:
        ahead = ts.seconds - now_s
        add(FieldViolation("timestamp", f"{ahead:.0f} s in the future (limit {limits.max_future_s:.0f} s)"))

    nominal_v = stored.voltage_v
    if reading.HasField("nominal_voltage"):
        v_n = reading.nominal_voltage
        if not _finite(v_n) or v_n <= 0:
            add(FieldViolation("nominal_voltage", "must be a positive finite voltage in V"))
        else:
            problem = _check_nominal(
                "nominal_voltage",
                v_n,
                stored.voltage_v,
                stored.voltage_inferred,
                limits.nominal_voltages_v,
                "V",
            )
            if problem is not None:
                add(problem)
            else:
                nominal_v = v_n
    if reading.HasField("nominal_frequency"):
        f_n = reading.nominal_frequency
        if not _finite(f_n) or f_n <= 0:
            add(FieldViolation("nominal_frequency", "must be a positive finite frequency in Hz"))
        else:
            problem = _check_nominal(
                "nominal_frequency",
                f_n,
                stored.frequency_hz,
                stored.frequency_inferred,
                STANDARD_NOMINAL_FREQUENCIES_HZ,
                "Hz",
            )
            if problem is not None:
                add(problem)

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
            elif quantity == "current" and value > limits.max_current_a:
                add(FieldViolation(path, f"{value:g} A exceeds {limits.max_current_a:g} A"))
                ok = False
            elif quantity in ("active_power", "reactive_power") and abs(value) > limits.max_power_w:
                unit = "W" if quantity == "active_power" else "var"
                add(FieldViolation(path, f"|{value:g}| {unit} exceeds {limits.max_power_w:g} {unit}"))
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
        out.extend(_validate_waveform(reading.waveform, limits))
    if reading.HasField("harmonics"):
        for phase in PHASES:
            values = getattr(reading.harmonics, f"voltage_{phase}")
            if len(values) > limits.max_harmonic_orders:
                add(
                    FieldViolation(
                        f"harmonics.voltage_{phase}",
                        f"{len(values)} orders exceed the limit {limits.max_harmonic_orders}",
                    )
                )
            elif any(not _finite(v) or v < 0 for v in values):
                add(FieldViolation(f"harmonics.voltage_{phase}", "magnitudes must be finite and >= 0"))
    return out


def _validate_waveform(waveform: reading_pb2.Waveform, limits: Limits) -> list[FieldViolation]:
    out = []
    lengths = {len(getattr(waveform, ch)) for ch in WAVEFORM_CHANNELS if len(getattr(waveform, ch))}
    if not lengths:
        return out
    if not _finite(waveform.sample_rate_hz) or waveform.sample_rate_hz <= 0:
        out.append(FieldViolation("waveform.sample_rate_hz", "must be a positive finite rate in Hz"))
    if len(lengths) > 1:
        out.append(FieldViolation("waveform", "channels must have the same number of samples"))
    for ch in WAVEFORM_CHANNELS:
        samples = getattr(waveform, ch)
        if len(samples) > limits.max_waveform_samples:
            out.append(
                FieldViolation(
                    f"waveform.{ch}", f"{len(samples)} samples exceed the limit {limits.max_waveform_samples}"
                )
            )
        elif samples and not all(_finite(v) for v in samples):
            out.append(FieldViolation(f"waveform.{ch}", "samples must be finite"))
    return out
