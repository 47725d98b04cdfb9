"""Readings for demonstrating and testing the dashboard: the simulated feeder streamed into
the gateway in a background thread, and a voltage sag on one phase of a meter.

Used by the browser test and by the screenshot script (`make screenshots`).
"""

from __future__ import annotations

import threading
import time

import grpc

from gridtwin.records import reading_from_record
from gridtwin.v1 import gateway_pb2_grpc, reading_pb2


class FeederThread(threading.Thread):
    """Streams the simulated feeder into the gateway, one AssessBatch per time step.

    Simulated time starts `days_back` days ago and advances one step (60 s) per `pace_s` of
    wall time, so timestamps stay in the past (ingest rejects readings from the future).
    """

    def __init__(
        self, gateway_address: str, meters: int = 6, pace_s: float = 0.25, days_back: float = 2.0
    ) -> None:
        super().__init__(daemon=True, name="feeder")
        self.address = gateway_address
        self.meters = meters
        self.pace_s = pace_s
        self.days_back = days_back
        self.stop_event = threading.Event()
        self.sent = 0
        self.meter_ids: set[str] = set()
        self.error: BaseException | None = None

    def run(self) -> None:
        import pandas as pd

        from gridsim.live import iter_live_readings

        start = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(days=self.days_back)
        records = iter_live_readings(meters=self.meters, speed=0, start=start, seed=1)
        try:
            with grpc.insecure_channel(self.address) as channel:
                stub = gateway_pb2_grpc.GridTwinStub(channel)
                step: list[reading_pb2.Reading] = []
                for record in records:
                    reading = reading_from_record(record)
                    if step and reading.timestamp != step[0].timestamp:
                        stub.AssessBatch(reading_pb2.ReadingBatch(readings=step), timeout=30)
                        self.sent += len(step)
                        step = []
                        if self.stop_event.wait(self.pace_s):
                            return
                    self.meter_ids.add(reading.meter_id)
                    step.append(reading)
        except BaseException as exc:  # reported by the caller; a daemon thread cannot raise
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=30)


def sag_reading(
    meter_id: str,
    retained_pu: float = 0.6,
    nominal_voltage_v: float = 230.0,
    nominal_frequency_hz: float = 50.0,
    current_a: float = 20.0,
    power_factor: float = 0.95,
    at_unix_s: float | None = None,
) -> reading_pb2.Reading:
    """A reading with phase a at `retained_pu` of nominal (IEEE 1159 / EN 50160 dip: residual
    voltage below 90 %), phases b and c at nominal; P = V·I·pf and Q = V·I·sin φ per phase so
    ingest's power-consistency check passes."""
    t = time.time() - 5 if at_unix_s is None else at_unix_s
    reading = reading_pb2.Reading(
        meter_id=meter_id,
        frequency=nominal_frequency_hz,
        nominal_voltage=nominal_voltage_v,
        nominal_frequency=nominal_frequency_hz,
    )
    reading.timestamp.seconds, reading.timestamp.nanos = int(t), int((t % 1) * 1e9)
    sin_phi = (1 - power_factor**2) ** 0.5
    for phase, pu in zip("abc", (retained_pu, 1.0, 1.0), strict=True):
        voltage_v = nominal_voltage_v * pu
        setattr(reading.voltage, phase, voltage_v)
        setattr(reading.current, phase, current_a)
        setattr(reading.active_power, phase, voltage_v * current_a * power_factor)
        setattr(reading.reactive_power, phase, voltage_v * current_a * sin_phi)
    return reading
