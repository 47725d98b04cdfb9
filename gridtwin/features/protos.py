"""Serving path adapter: ``gridtwin.v1.Reading`` protos → ``ReadingArrays``.

THD is exact or absent: from the waveform (IEC 61000-4-7 subgroups, window synchronised to the
reading's measured frequency, else its nominal) if one is attached, else from the meter-reported
``harmonics``, else NaN (feature ``thd_available`` = 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gridtwin.features.arrays import ReadingArrays
from gridtwin.features.nominal import infer_nominal_frequency_hz, infer_nominal_voltage_v
from gridtwin.physics.harmonics import thd_pct_from_magnitudes, thd_pct_from_waveform
from gridtwin.v1 import reading_pb2


def timestamp_ns(reading: reading_pb2.Reading) -> int:
    """Reading timestamp as integer Unix nanoseconds."""
    return reading.timestamp.seconds * 1_000_000_000 + reading.timestamp.nanos


def _thd_row(r: reading_pb2.Reading, f1: float) -> list[float]:
    w = r.waveform
    out = [np.nan, np.nan, np.nan]
    for k, (wave, harm) in enumerate(
        zip(
            (w.voltage_a, w.voltage_b, w.voltage_c),
            (r.harmonics.voltage_a, r.harmonics.voltage_b, r.harmonics.voltage_c),
            strict=True,
        )
    ):
        if w.sample_rate_hz > 0 and len(wave) > 0 and f1 > 0:
            try:
                out[k] = float(thd_pct_from_waveform(np.asarray(wave), w.sample_rate_hz, f1))
                continue
            except ValueError:  # shorter than one cycle: fall back to reported harmonics
                pass
        if len(harm) > 0:
            out[k] = float(thd_pct_from_magnitudes(np.asarray(harm)))
    return out


def explicit_nominals(
    readings: Sequence[reading_pb2.Reading],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Nominal V and f stated in each reading (NaN where the optional field is absent)."""
    nv = [r.nominal_voltage if r.HasField("nominal_voltage") else np.nan for r in readings]
    nf = [r.nominal_frequency if r.HasField("nominal_frequency") else np.nan for r in readings]
    return np.asarray(nv, dtype=float), np.asarray(nf, dtype=float)


def arrays_from_protos(
    readings: Sequence[reading_pb2.Reading],
    nominal_v: ArrayLike | None = None,
    nominal_f: ArrayLike | None = None,
    nominal_inferred: ArrayLike | None = None,
) -> ReadingArrays:
    """Column arrays of a batch of readings.

    ``nominal_v`` / ``nominal_f`` (V phase-to-neutral, Hz; scalar or per reading) are the
    resolved per-meter nominals, normally from ``FeatureState``. If omitted, each reading's own
    optional fields are used, else the standard value closest to the measurement (inferred).
    """
    n = len(readings)
    vals = np.array(
        [
            (
                r.voltage.a,
                r.voltage.b,
                r.voltage.c,
                r.current.a,
                r.current.b,
                r.current.c,
                r.active_power.a,
                r.active_power.b,
                r.active_power.c,
                r.reactive_power.a,
                r.reactive_power.b,
                r.reactive_power.c,
                r.frequency,
                r.ambient_temperature if r.HasField("ambient_temperature") else np.nan,
            )
            for r in readings
        ],
        dtype=float,
    ).reshape(n, 14)
    ts = np.array([timestamp_ns(r) for r in readings], dtype=np.int64) / 1e9
    v = vals[:, 0:3]
    f = vals[:, 12]
    ev, ef = explicit_nominals(readings)
    inferred = np.zeros(n, dtype=bool)
    if nominal_v is None:
        miss = np.isnan(ev)
        inferred |= miss
        nv = np.where(miss, infer_nominal_voltage_v(v.mean(axis=1)), ev)
    else:
        nv = np.broadcast_to(np.asarray(nominal_v, dtype=float), (n,)).copy()
    if nominal_f is None:
        miss = np.isnan(ef)
        inferred |= miss
        nf = np.where(miss, infer_nominal_frequency_hz(f), ef)
    else:
        nf = np.broadcast_to(np.asarray(nominal_f, dtype=float), (n,)).copy()
    if nominal_inferred is not None:
        inferred = np.broadcast_to(np.asarray(nominal_inferred, dtype=bool), (n,))
    has_extra = [i for i, r in enumerate(readings) if r.HasField("waveform") or r.HasField("harmonics")]
    thd = np.full((n, 3), np.nan)
    for i in has_extra:
        f1 = f[i] if f[i] > 0 else nf[i]
        thd[i] = _thd_row(readings[i], f1)
    return ReadingArrays(
        timestamp_s=ts,
        voltage_v=v,
        current_a=vals[:, 3:6],
        active_power_w=vals[:, 6:9],
        reactive_power_var=vals[:, 9:12],
        frequency_hz=f,
        nominal_voltage_v=nv,
        nominal_frequency_hz=nf,
        nominal_inferred=inferred.astype(float),
        ambient_temperature_c=vals[:, 13],
        thd_voltage_pct=thd,
    )
