"""Every kind of bad input gets INVALID_ARGUMENT naming the field; the mesh stays up."""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_status import rpc_status

from gridtwin.core.errors import field_violations
from gridtwin.v1 import reading_pb2
from tests.readings import make_reading

pytestmark = pytest.mark.mesh


def _missing(field: str):
    def change(r: reading_pb2.Reading) -> None:
        r.ClearField(field)

    return change


def _set(path: str, value: float):
    def change(r: reading_pb2.Reading) -> None:
        target = r
        *parents, leaf = path.split(".")
        for p in parents:
            target = getattr(target, p)
        setattr(target, leaf, value)

    return change


CASES = {
    "missing meter_id": (_missing("meter_id"), "meter_id"),
    "missing timestamp": (_missing("timestamp"), "timestamp"),
    "missing voltage": (_missing("voltage"), "voltage"),
    "missing current": (_missing("current"), "current"),
    "missing frequency": (_set("frequency", 0.0), "frequency"),
    "NaN voltage": (_set("voltage.a", float("nan")), "voltage.a"),
    "inf current": (_set("current.b", float("inf")), "current.b"),
    "-inf reactive power": (_set("reactive_power.c", float("-inf")), "reactive_power.c"),
    "NaN frequency": (_set("frequency", float("nan")), "frequency"),
    "negative RMS voltage": (_set("voltage.c", -230.0), "voltage.c"),
    "negative RMS current": (_set("current.a", -1.0), "current.a"),
    "voltage beyond 2 pu": (_set("voltage.b", 2.1 * 230.0), "voltage.b"),
    "frequency below 40 Hz": (_set("frequency", 39.0), "frequency"),
    "frequency above 70 Hz": (_set("frequency", 71.0), "frequency"),
    "|P| beyond V*I": (_set("active_power.a", 230.0 * 10.0 * 1.5), "active_power.a"),
    "|Q| beyond V*I": (_set("reactive_power.b", -230.0 * 10.0 * 1.5), "reactive_power.b"),
    "timestamp far in the future": (_set("timestamp.seconds", int(time.time()) + 86_400), "timestamp"),
    "bad meter_id characters": (_set("meter_id", "meter with spaces"), "meter_id"),
    "nominal frequency out of range": (_set("nominal_frequency", 400.0), "nominal_frequency"),
    "negative nominal voltage": (_set("nominal_voltage", -120.0), "nominal_voltage"),
    "timestamp before 2000": (_set("timestamp.seconds", 900_000_000), "timestamp"),
    "nanos out of range": (_set("timestamp.nanos", 1_000_000_000), "timestamp.nanos"),
    "meter_id with a trailing newline": (_set("meter_id", "meter-1\n"), "meter_id"),
    "current beyond the bound": (_set("current.a", 2e5), "current.a"),
    "nominal voltage of 1 MV": (_set("nominal_voltage", 1e6), "nominal_voltage"),
    "waveform beyond the sample cap": (
        lambda r: (
            setattr(r.waveform, "sample_rate_hz", 6400.0),
            r.waveform.current_c.extend([0.0] * 20_000),
        ),
        "waveform.current_c",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_reading_is_rejected_naming_the_field(gateway, case):
    change, field = CASES[case]
    reading = make_reading(f"bad-{abs(hash(case)) % 10_000}")
    change(reading)
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(reading, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    assert status is not None, "rich status (BadRequest details) expected in trailers"
    assert field in [v.field for v in field_violations(status)]
    assert field in err.value.details()


def test_nominal_is_per_meter_a_120v_meter_is_judged_against_120v(gateway):
    # 250 V is normal for a 230 V meter, but beyond 2 pu of a 120 V meter.
    gateway.Assess(
        make_reading("us-meter", voltage_v=120, nominal_voltage=120, nominal_frequency=60, frequency_hz=60)
    )
    high = make_reading(
        "us-meter", voltage_v=250, nominal_voltage=None, nominal_frequency=None, frequency_hz=60
    )
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(high, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "120" in err.value.details()
    gateway.Assess(make_reading("eu-meter", voltage_v=250), timeout=10)


def test_a_batch_of_only_bad_readings_is_answered_item_by_item(gateway):
    bad = [make_reading("allbad-1"), make_reading("allbad-2")]
    bad[0].voltage.a = float("nan")
    bad[1].ClearField("timestamp")
    result = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=bad), timeout=10)
    assert [v.field for v in field_violations(result.assessments[0].status)] == ["voltage.a"]
    assert [v.field for v in field_violations(result.assessments[1].status)] == ["timestamp"]


def test_the_mesh_is_still_up_after_bad_input(mesh, gateway):
    for _ in range(3):
        reading = make_reading("after-bad")
        reading.voltage.a = float("nan")
        with pytest.raises(grpc.RpcError):
            gateway.Assess(reading, timeout=10)
    assert gateway.Assess(make_reading("after-bad"), timeout=10).status.code == 0
    assert all(p.poll() is None for p in mesh.procs.values())


def test_undecodable_request_bytes_are_invalid_argument(mesh):
    with grpc.insecure_channel(mesh.address("gateway")) as channel:
        assess = channel.unary_unary(
            "/gridtwin.v1.GridTwin/Assess", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.RpcError) as err:
            assess(b"\x0a\x03\xff\xfe\xfd\x12\x99", timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in field_violations(rpc_status.from_call(err.value))] == ["request"]


def test_one_reading_cannot_rewrite_a_meters_registered_nominal(gateway):
    gateway.Assess(make_reading("profile-meter", voltage_v=230, nominal_voltage=230), timeout=10)
    rewrite = make_reading("profile-meter", nominal_voltage=1e6)
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(rewrite, timeout=10)
    assert "nominal_voltage" in [v.field for v in field_violations(rpc_status.from_call(err.value))]
    # ... so a 2 MV measurement is still judged against 230 V.
    high = make_reading("profile-meter", voltage_v=2e6, nominal_voltage=None)
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(high, timeout=10)
    assert "voltage.a" in [v.field for v in field_violations(rpc_status.from_call(err.value))]


def test_a_conflicting_replay_is_already_exists_naming_the_conflict(gateway):
    first = make_reading("conflict-meter", t=time.time() - 900)
    gateway.Assess(first, timeout=10)
    changed = reading_pb2.Reading()
    changed.CopyFrom(first)
    changed.current.a += 1.0
    changed.active_power.a += 200.0
    with pytest.raises(grpc.RpcError) as err:
        gateway.Assess(changed, timeout=10)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "conflict-meter" in err.value.details()
