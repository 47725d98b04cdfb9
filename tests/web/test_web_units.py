"""Units of the web service without a mesh: the generated JSON models, the error mapping,
the drop-oldest live queue and the WebSocket filter parsing."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from starlette.datastructures import QueryParams

from gridtwin.v1 import gateway_pb2, reading_pb2
from gridtwin.web.errors import http_status
from gridtwin.web.live import DropOldestQueue
from gridtwin.web.protomodels import model_for, to_json_dict
from services.web.app import create_app
from services.web.live import subscribe_request

ReadingJson = model_for(reading_pb2.Reading.DESCRIPTOR)


def test_reading_json_round_trips_through_the_proto3_mapping():
    body = {
        "meterId": "m-1",
        "timestamp": "2026-01-01T12:00:00+01:00",
        "voltage": {"a": 231.0, "b": "NaN", "c": 233.0},
        "nominal_voltage": 230.0,  # original field names are accepted too, as the mapping says
    }
    message = json_format.ParseDict(to_json_dict(ReadingJson.model_validate(body)), reading_pb2.Reading())
    assert message.meter_id == "m-1" and message.timestamp.seconds == 1767265200
    assert message.voltage.a == 231.0 and message.voltage.b != message.voltage.b  # NaN
    assert message.HasField("nominal_voltage") and not message.HasField("nominal_frequency")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meterId": "m", "timestamp": "2026-01-01T12:00:00"}, "timestamp"),  # no zone
        ({"meterId": "m", "voltage": {"a": "high"}}, "voltage.a"),
        ({"meterId": "m", "colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_answer_400_naming_the_field(body, field):
    with TestClient(create_app("127.0.0.1:0")) as client:
        reply = client.post("/v1/assess", json=body)
    assert reply.status_code == 400
    error = reply.json()
    assert error["code"] == "INVALID_ARGUMENT"
    assert [v["field"] for v in error["fieldViolations"]] == [field]


def test_batch_violations_name_the_item():
    with TestClient(create_app("127.0.0.1:0")) as client:
        reply = client.post("/v1/assess/batch", json={"readings": [{"meterId": "ok"}, {"frequency": "x"}]})
    assert reply.status_code == 400
    assert reply.json()["fieldViolations"][0]["field"] == "readings[1].frequency"


def test_unreachable_gateway_is_503_not_a_crash():
    with TestClient(create_app("127.0.0.1:1")) as client:
        reply = client.get("/v1/models")
        ready = client.get("/readyz")
    assert reply.status_code == 503 and reply.json()["code"] == "UNAVAILABLE"
    assert ready.status_code == 503


def test_grpc_codes_map_to_http_statuses():
    assert http_status(grpc.StatusCode.INVALID_ARGUMENT) == 400
    assert http_status(grpc.StatusCode.NOT_FOUND) == 404
    assert http_status(grpc.StatusCode.UNAUTHENTICATED) == 401
    assert http_status(grpc.StatusCode.PERMISSION_DENIED) == 403
    assert http_status(grpc.StatusCode.RESOURCE_EXHAUSTED) == 429
    assert http_status(grpc.StatusCode.UNAVAILABLE) == 503
    assert http_status(grpc.StatusCode.DEADLINE_EXCEEDED) == 504


def test_drop_oldest_queue_keeps_the_newest_and_counts_the_rest():
    async def scenario() -> tuple[list[int], int]:
        queue: DropOldestQueue[int] = DropOldestQueue(3)
        for i in range(10):
            queue.put(i)  # never blocks, however slow the reader
        return [await queue.get() for _ in range(3)], queue.dropped

    items, dropped = asyncio.run(scenario())
    assert items == [7, 8, 9] and dropped == 7


def test_drop_oldest_queue_wakes_a_waiting_reader():
    async def scenario() -> int:
        queue: DropOldestQueue[int] = DropOldestQueue(2)
        reader = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.put(42)
        return await asyncio.wait_for(reader, 1.0)

    assert asyncio.run(scenario()) == 42


def test_live_filters_parse_like_subscribe():
    request = subscribe_request(
        QueryParams("meters=a,b&meters=c&models=voltage_sag&min_severity=warning&resume_from=1-0")
    )
    assert isinstance(request, gateway_pb2.SubscribeRequest)
    assert list(request.meter_ids) == ["a", "b", "c"] and list(request.models) == ["voltage_sag"]
    assert request.min_severity == 3 and request.resume_from == "1-0"
    status, body = subscribe_request(QueryParams("models=nope"))
    assert status == 400 and body["fieldViolations"][0]["field"] == "models"
    status, body = subscribe_request(QueryParams("min_severity=LOUD"))
    assert status == 400 and body["fieldViolations"][0]["field"] == "min_severity"


def test_live_socket_reports_bad_filters_and_closes():
    with (
        TestClient(create_app("127.0.0.1:0")) as client,
        client.websocket_connect("/v1/live?models=nope") as ws,
    ):
        message = ws.receive_json()
        assert message["type"] == "error" and message["fieldViolations"][0]["field"] == "models"


def test_unparseable_bodies_and_bad_tokens_answer_in_the_error_shape():
    with TestClient(create_app("127.0.0.1:1")) as client:
        garbled = client.post(
            "/v1/assess", content=b"\xe9\x00{", headers={"content-type": "application/json"}
        )
        token = client.get("/v1/models", headers={"authorization": b"Bearer \xe9"})
    assert garbled.status_code == 400 and garbled.json()["code"] == "INVALID_ARGUMENT"
    assert token.status_code == 401 and token.json()["code"] == "UNAUTHENTICATED"
