"""The mesh with the quick-trained registry: simulator readings in, sixteen model answers out."""

from __future__ import annotations

import grpc
import numpy as np
import pandas as pd
import pytest
import redis

from gridsim.assets import simulated_assets
from gridtwin.assets import write_assets
from gridtwin.records import reading_from_record
from gridtwin.registry import MODEL_MODULE, list_entries
from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc, reading_pb2, services_pb2
from tests.conftest import cleanup_prefix, start_mesh
from training.pipeline import dataset_dir

pytestmark = pytest.mark.mesh


@pytest.fixture(scope="module")
def trained_mesh(redis_url, quick_registry):
    mesh = start_mesh(redis_url, quick_registry)
    yield mesh
    mesh.stop()
    cleanup_prefix(redis_url, mesh.redis_prefix)


def _recent_history(meter_id: str, every_minutes: int) -> list[reading_pb2.Reading]:
    """The simulator's readings of one meter of the training feeder (three days), one every
    `every_minutes`, shifted so the last one is an hour old: history the per-meter models
    (forecast, demand-response profile) need before they answer OK."""
    frame = pd.read_parquet(dataset_dir("quick", 0) / "kerber_dorfnetz" / "readings.parquet")
    frame = frame[frame["meter_id"] == meter_id].sort_values("timestamp").iloc[::every_minutes]
    shift = pd.Timestamp.now(tz="UTC").floor("min") - pd.Timedelta(hours=1) - frame["timestamp"].max()
    frame = frame.assign(timestamp=frame["timestamp"] + shift)
    return [reading_from_record(r) for r in frame.to_dict("records")]


def _attach_waveform(reading: reading_pb2.Reading, fifth_pct: float) -> None:
    """An IEC 61000-4-7 window (10 cycles) of the reading's phase voltages with a 5th
    harmonic, as a power-quality meter would attach (harmonic analysis needs a spectrum)."""
    f1 = reading.frequency
    rate = 128 * f1
    t = np.arange(int(10 * 128)) / rate
    waveform = reading.waveform
    waveform.sample_rate_hz = rate
    for k, phase in enumerate("abc"):
        rms = getattr(reading.voltage, phase)
        shift = -2 * np.pi * k / 3
        samples = (
            np.sqrt(2)
            * rms
            * (
                np.sin(2 * np.pi * f1 * t + shift)
                + fifth_pct / 100 * np.sin(5 * (2 * np.pi * f1 * t + shift))
            )
        )
        getattr(waveform, f"voltage_{phase}").extend(samples.tolist())


def test_every_registered_model_answers_ok_through_the_mesh(trained_mesh, quick_registry):
    registered = {name for name, entry in list_entries(quick_registry).items() if entry is not None}
    assert registered == set(MODEL_MODULE), f"not registered: {sorted(set(MODEL_MODULE) - registered)}"
    # The transformer meter: the head-end measurement every feeder-level model answers for,
    # with its asset record (rating, age, maintenance) as asset management would supply it.
    write_assets(redis.Redis.from_url(trained_mesh.redis_url), trained_mesh.redis_prefix, simulated_assets())
    readings = _recent_history("dorf-TR", every_minutes=5)
    _attach_waveform(readings[-1], fifth_pct=4.0)
    assessments = []
    with grpc.insecure_channel(trained_mesh.address("gateway")) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        for k in range(0, len(readings), 200):
            chunk = reading_pb2.ReadingBatch(readings=readings[k : k + 200])
            assessments.extend(stub.AssessBatch(chunk, timeout=120).assessments)
        catalog = stub.ListModels(services_pb2.ListModelsRequest(), timeout=10)
    assert len(assessments) == len(readings)
    assert all(a.status.code == 0 for a in assessments)
    versions = {m.name: m.version for m in catalog.models}
    last = assessments[-1]
    for name in MODEL_MODULE:
        info = getattr(last, name).info
        assert info.status == assessment_pb2.OK, (
            f"{name}: {assessment_pb2.ModelStatus.Name(info.status)} {info.detail}"
        )
        assert info.model_version == versions[name] == list_entries(quick_registry)[name].version
    assert all(m.status == assessment_pb2.OK for m in last.modules)
