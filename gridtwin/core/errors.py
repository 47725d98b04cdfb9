"""google.rpc rich errors: INVALID_ARGUMENT with BadRequest field violations.

A batch carries one `google.rpc.Status` per item; a unary call aborts with the same status
so clients read the violations with `grpc_status.rpc_status.from_call`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


OK_STATUS = status_pb2.Status(code=code_pb2.OK)


def bad_request(violations: Iterable[FieldViolation], message: str | None = None) -> status_pb2.Status:
    """INVALID_ARGUMENT status carrying a BadRequest detail with one entry per bad field."""
    violations = list(violations)
    detail = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    packed = any_pb2.Any()
    packed.Pack(detail)
    if message is None:
        message = "invalid reading: " + "; ".join(f"{v.field}: {v.description}" for v in violations)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[packed])


def error_status(code: grpc.StatusCode, message: str) -> status_pb2.Status:
    return status_pb2.Status(code=code.value[0], message=message)


def field_violations(status: status_pb2.Status) -> list[FieldViolation]:
    """The BadRequest violations carried by a status (empty if none)."""
    out: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return out


async def abort_with_status(context: grpc.aio.ServicerContext, status: status_pb2.Status) -> None:
    """Abort the RPC with a rich status (code, message and details in trailers)."""
    await context.abort_with_status(rpc_status.to_status(status))


# Codes our own services set on purpose, with messages written for the caller. Other codes
# come from the transport or a crash, and their details can name internal addresses or carry
# exception text: callers get only the code.
DELIBERATE_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


def downstream_detail(service: str, code: grpc.StatusCode, details: str | None) -> str:
    """What a client may read about a failed call to an internal service: "features:
    UNAVAILABLE", plus the details only for deliberate codes (no addresses, no tracebacks)."""
    if code in DELIBERATE_CODES and details:
        return f"{service}: {code.name}: {details}"
    return f"{service}: {code.name}"
