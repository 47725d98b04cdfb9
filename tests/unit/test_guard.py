"""The server guard on a real gRPC server: undecodable bytes, dependency failures, shedding."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
import redis.exceptions
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from gridtwin.core.errors import field_violations
from gridtwin.core.guard import Admission
from gridtwin.v1 import reading_pb2, services_pb2
from tests.guard_server import GuardedServer

METHOD = "/gridtwin.v1.Ingest/Ingest"


async def _ok(request, context):
    return services_pb2.IngestResponse()


def _raw_call(address: str, payload: bytes, timeout: float = 5.0):
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        return call(payload, timeout=timeout)


def test_undecodable_request_bytes_are_invalid_argument_naming_the_request():
    with GuardedServer(_ok) as address:
        with pytest.raises(grpc.RpcError) as info:
            _raw_call(address, b"\x0a\x05\x0a\x03\xff\xfe\xfd")  # a meter_id that is not UTF-8
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(info.value)
        assert [v.field for v in field_violations(status)] == ["request"]
        # The server is still fine for a well-formed request.
        assert _raw_call(address, reading_pb2.ReadingBatch().SerializeToString()) == b""


@pytest.mark.parametrize(
    ("error", "code", "text"),
    [
        (
            redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6390."),
            grpc.StatusCode.UNAVAILABLE,
            "redis unavailable",
        ),
        (
            redis.exceptions.OutOfMemoryError("OOM command not allowed when used memory > 'maxmemory'."),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "redis memory is full",
        ),
        (KeyError("secret-internal-name"), grpc.StatusCode.INTERNAL, "internal error"),
    ],
)
def test_a_failing_dependency_is_a_sanitised_status_never_unknown(error, code, text):
    async def fail(request, context):
        raise error

    with GuardedServer(fail) as address, pytest.raises(grpc.RpcError) as info:
        _raw_call(address, b"")
    assert info.value.code() == code
    assert text in info.value.details()
    assert "127.0.0.1" not in info.value.details() and "secret" not in info.value.details()


def test_calls_beyond_the_limit_are_shed_with_a_retry_after_hint():
    release = threading.Event()
    entered = threading.Semaphore(0)

    async def slow(request, context):
        entered.release()
        while not release.is_set():
            await asyncio.sleep(0.01)
        return services_pb2.IngestResponse()

    admission = Admission(max_calls=2, max_streams=1, retry_after_ms=250)
    with GuardedServer(slow, admission) as address, grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        held = [call.future(b"", timeout=30) for _ in range(2)]
        for _ in held:
            assert entered.acquire(timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            call(b"", timeout=10)
        release.set()
        assert [f.result() for f in held] == [b"", b""]
        assert call(b"", timeout=10) == b""  # admitted again once the others finished
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailing = dict(info.value.trailing_metadata())
    assert trailing["retry-after-ms"] == "250"
    status = rpc_status.from_call(info.value)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.ToMilliseconds() == 250
    assert admission.shed == 1


def test_a_message_over_the_documented_maximum_is_refused():
    with GuardedServer(_ok, max_receive=1024) as address:
        big = reading_pb2.ReadingBatch(readings=[reading_pb2.Reading(meter_id="m" * 100) for _ in range(20)])
        with pytest.raises(grpc.RpcError) as info:
            _raw_call(address, big.SerializeToString())
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
