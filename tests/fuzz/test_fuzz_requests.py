"""Fuzz target: raw request bytes into a real gRPC server running the production guard and
validation. Whatever the bytes, the answer is OK (with one status per item) or
INVALID_ARGUMENT: never UNKNOWN/INTERNAL, never a crash or a hang.

`make test` runs a short pass; `make fuzz` runs it long (`FUZZ_EXAMPLES`, default 20000).
"""

from __future__ import annotations

import os

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridtwin.core.errors import bad_request
from gridtwin.ingest.validation import Limits, validate_reading
from gridtwin.v1 import reading_pb2, services_pb2
from tests.guard_server import GuardedServer
from tests.readings import make_reading

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
METHOD = "/gridtwin.v1.Ingest/Ingest"
LIMITS = Limits()


async def validate_batch(request: reading_pb2.ReadingBatch, context) -> services_pb2.IngestResponse:
    """The ingest's validation step alone (no Redis): one status per reading."""
    results = []
    for reading in request.readings:
        violations = validate_reading(reading, None, LIMITS)
        result = services_pb2.IngestResult(feature_row=-1)
        if violations:
            result.status.CopyFrom(bad_request(violations))
        results.append(result)
    return services_pb2.IngestResponse(results=results)


SEED = reading_pb2.ReadingBatch(readings=[make_reading("fuzz-1"), make_reading("fuzz-2")]).SerializeToString()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid batch with some bytes overwritten, inserted or cut."""
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


@pytest.fixture(scope="module")
def address():
    with GuardedServer(validate_batch) as addr:
        yield addr


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(payload=st.binary(max_size=512) | mutated())
def test_any_request_bytes_get_ok_or_invalid_argument(address, payload):
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
        try:
            raw = call(payload, timeout=10)
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (exc.code(), exc.details())
            return
    request = reading_pb2.ReadingBatch.FromString(payload)
    response = services_pb2.IngestResponse.FromString(raw)
    assert len(response.results) == len(request.readings)
