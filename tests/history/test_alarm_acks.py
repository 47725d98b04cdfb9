"""Operators' acknowledgements of alarms and the online figures history gives per version
(gridtwin.history.acks, gridtwin.history.model_metrics), on a real SQLite database; and the
history service's RPCs on a real gRPC server."""

from __future__ import annotations

import asyncio
import math

import grpc
import pytest

from gridtwin.history.acks import NotAnAlarm, acknowledge
from gridtwin.history.model_metrics import online_metrics
from gridtwin.history.repository import Repository
from gridtwin.history.rows import HistoryItem
from gridtwin.lifecycle.online import forecast_accuracy
from gridtwin.v1 import assessment_pb2, history_pb2_grpc, services_pb2
from services.history.server import HistoryServicer
from tests.history.items import T0_S, item

US = 1_000_000


def _alarm(meter: str, t_s: int, version: str, severity: int = assessment_pb2.WARNING):
    entry = item(meter, t_s)
    info = entry.assessment.voltage_anomaly.info
    info.status, info.model_version, info.severity = assessment_pb2.OK, version, severity
    return entry


def _ack(
    meter: str, t_s: int, verdict: int, model: str = "voltage_anomaly"
) -> services_pb2.AlarmAcknowledgement:
    ack = services_pb2.AlarmAcknowledgement(
        meter_id=meter, model=model, verdict=verdict, note="checked on site"
    )
    ack.timestamp.seconds = t_s
    return ack


@pytest.fixture
def repo(sqlite_url):
    repo = Repository(sqlite_url)
    repo.create_schema()
    # v1 raised 4 alarms, v2 raised 2; one normal answer.
    repo.write([_alarm("m-1", T0_S + 60 * k, "v1") for k in range(4)])
    repo.write([_alarm("m-2", T0_S + 60 * k, "v2", assessment_pb2.CRITICAL) for k in range(2)])
    repo.write([_alarm("m-3", T0_S, "v1", assessment_pb2.NORMAL)])
    yield repo
    repo.dispose()


def test_precision_counts_the_latest_verdict_per_alarm_per_version(repo):
    now = (T0_S + 3600) * US
    for k, verdict in enumerate((services_pb2.CONFIRMED, services_pb2.CONFIRMED, services_pb2.DISMISSED)):
        stored = acknowledge(repo, _ack("m-1", T0_S + 60 * k, verdict), "op-anna", now)
        assert stored.model_version == "v1" and stored.acknowledged_by == "op-anna"
    # A second look changes the verdict on the first alarm: the latest one counts.
    acknowledge(repo, _ack("m-1", T0_S, services_pb2.DISMISSED), "op-ben", now)
    acknowledge(repo, _ack("m-2", T0_S, services_pb2.CONFIRMED), "op-anna", now)
    rows = {(r.model, r.version): r for r in online_metrics(repo, ["voltage_anomaly"], 86400, now)}
    v1, v2 = rows[("voltage_anomaly", "v1")], rows[("voltage_anomaly", "v2")]
    assert (v1.alarms_confirmed, v1.alarms_dismissed) == (1, 2)
    assert v1.alarm_precision == pytest.approx(1 / 3)
    assert (v2.alarms_confirmed, v2.alarms_dismissed, v2.alarm_precision) == (1, 0, 1.0)
    assert v1.forecast_intervals == 0  # not load_forecast


def test_only_a_stored_alarm_can_be_acknowledged(repo):
    with pytest.raises(NotAnAlarm) as normal:
        acknowledge(repo, _ack("m-3", T0_S, services_pb2.CONFIRMED), "op", T0_S * US)
    assert normal.value.stored and "no alarm" in normal.value.reason
    with pytest.raises(NotAnAlarm) as missing:
        acknowledge(repo, _ack("m-9", T0_S, services_pb2.CONFIRMED), "op", T0_S * US)
    assert not missing.value.stored
    assert all(
        math.isnan(r.alarm_precision) or r.alarms_confirmed
        for r in online_metrics(repo, ["voltage_anomaly"], 86400, T0_S * US)
    )


def test_history_service_acknowledges_and_answers_online_metrics(repo):
    async def run() -> None:
        server = grpc.aio.server()
        history_pb2_grpc.add_HistoryServicer_to_server(HistoryServicer(repo), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = history_pb2_grpc.HistoryStub(channel)
                ack = _ack("m-1", T0_S, services_pb2.DISMISSED)
                with pytest.raises(grpc.aio.AioRpcError) as unsigned:
                    await stub.Acknowledge(ack)  # who is set by the gateway
                assert unsigned.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "acknowledged_by" in unsigned.value.details() or "invalid" in unsigned.value.details()
                ack.acknowledged_by = "op-anna"
                stored = await stub.Acknowledge(ack)
                assert stored.severity == assessment_pb2.WARNING and stored.acknowledged_at.seconds > 0
                bad = _ack("m-1", T0_S, services_pb2.ALARM_VERDICT_UNSPECIFIED, model="nope")
                bad.acknowledged_by = "op"
                with pytest.raises(grpc.aio.AioRpcError) as invalid:
                    await stub.Acknowledge(bad)
                assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                normal = _ack("m-3", T0_S, services_pb2.CONFIRMED)
                normal.acknowledged_by = "op"
                with pytest.raises(grpc.aio.AioRpcError) as not_alarm:
                    await stub.Acknowledge(normal)
                assert not_alarm.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                reply = await stub.OnlineMetrics(
                    services_pb2.OnlineMetricsRequest(models=["voltage_anomaly"])
                )
                (v1,) = [m for m in reply.metrics if m.version == "v1"]
                assert (v1.alarms_confirmed, v1.alarms_dismissed, v1.alarm_precision) == (0, 1, 0.0)
                with pytest.raises(grpc.aio.AioRpcError) as unknown:
                    await stub.OnlineMetrics(services_pb2.OnlineMetricsRequest(models=["nope"]))
                assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        finally:
            await server.stop(None)

    asyncio.run(run())


def test_online_metrics_give_the_forecasts_mape_over_every_recent_meter(sqlite_url):
    from tests.history.test_online_accuracy import LOAD_W, _stored

    repo = Repository(sqlite_url)
    repo.create_schema()
    # Two meters, four hours each of a steady 3 kW; v1 forecasts 10 % too high on both.
    for n, meter in enumerate(("m-1", "m-2")):
        entries = []
        for k in range(240):
            entry = _stored(T0_S + 60 * k, "v1", LOAD_W * 1.10)
            entry.reading.meter_id = entry.assessment.meter_id = meter
            entries.append(HistoryItem(f"{(T0_S + 60 * k) * 1000}-{n}", entry.reading, entry.assessment))
        repo.write(entries)
    now = (T0_S + 4 * 3600) * US
    (row,) = online_metrics(repo, ["load_forecast"], 4 * 3600, now)
    assert (row.model, row.version) == ("load_forecast", "v1")
    assert row.online_mape_pct == pytest.approx(10.0) and row.registry_mape_pct == pytest.approx(7.5)
    one_meter = forecast_accuracy(repo, "m-1", now - 4 * 3600 * US, now, 60)
    assert row.forecast_intervals == 2 * one_meter[0].intervals > 0
    repo.dispose()
