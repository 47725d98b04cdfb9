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


# ---- failures of dependencies: sanitised, retryable codes ------------------------------------
# What a caller is told when a hop fails. Transport details (addresses, exception text) go to
# the log with their trace, never to the client.
_UPSTREAM_MESSAGES = {
    grpc.StatusCode.UNAVAILABLE: "unavailable, retry",
    grpc.StatusCode.DEADLINE_EXCEEDED: "deadline exceeded",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "overloaded, retry later",
    grpc.StatusCode.CANCELLED: "cancelled",
    grpc.StatusCode.ABORTED: "aborted, retry",
}


def upstream_failure(service: str, exc: grpc.aio.AioRpcError) -> status_pb2.Status:
    """The status reported for a failed call to `service`: its code when it is one of the
    transient ones (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ...), else INTERNAL;
    a fixed message per code (the callee's own message when it is a sanitised one of ours)."""
    code = exc.code()
    if code in _UPSTREAM_MESSAGES:
        details = exc.details() or ""
        # Our services' own messages are sanitised at their source (gridtwin.core.guard);
        # grpc-core's transport messages ("failed to connect to all addresses; ...") are not.
        ours = details.startswith(("redis ", "overloaded", "deadline", "shutting down"))
        message = f"{service}: {details if ours else _UPSTREAM_MESSAGES[code]}"
        return error_status(code, message)
    return error_status(grpc.StatusCode.INTERNAL, f"{service}: internal error ({code.name})")


def retry_info_status(code: grpc.StatusCode, message: str, retry_after_ms: int) -> status_pb2.Status:
    """A status with a google.rpc.RetryInfo detail (how long to wait before retrying)."""
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromMilliseconds(int(retry_after_ms))
    packed = any_pb2.Any()
    packed.Pack(info)
    return status_pb2.Status(code=code.value[0], message=message, details=[packed])


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
