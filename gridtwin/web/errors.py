"""gRPC status → HTTP status and a JSON error body that names the offending field.

The body is the same for every error: `{"code": "INVALID_ARGUMENT", "message": "...",
"fieldViolations": [{"field": "voltage.a", "description": "..."}]}`; the field violations
come from the `google.rpc.BadRequest` detail the mesh attaches to INVALID_ARGUMENT.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import status_pb2
from grpc_status import rpc_status
from pydantic import BaseModel, Field

from gridtwin.core.errors import FieldViolation, field_violations

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
}


class FieldViolationBody(BaseModel):
    field: str
    description: str


class ErrorBody(BaseModel):
    """Every error answer: the gRPC code name, a message, and the bad fields (if any)."""

    code: str = Field(description="gRPC status code name, e.g. INVALID_ARGUMENT")
    message: str
    fieldViolations: list[FieldViolationBody] = Field(default_factory=list)


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def error_body(
    code: grpc.StatusCode, message: str, violations: list[FieldViolation] | None = None
) -> dict[str, Any]:
    return {
        "code": code.name,
        "message": message,
        "fieldViolations": [{"field": v.field, "description": v.description} for v in violations or []],
    }


def from_rpc_error(exc: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for a failed gateway call, with BadRequest violations if present."""
    violations: list[FieldViolation] = []
    for key, value in exc.trailing_metadata() or ():
        if key == rpc_status.GRPC_DETAILS_METADATA_KEY:
            violations = field_violations(status_pb2.Status.FromString(value))
    return http_status(exc.code()), error_body(exc.code(), exc.details() or exc.code().name, violations)


def invalid(field: str, description: str) -> tuple[int, dict[str, Any]]:
    """A 400 for a bad request parameter or body field, before any gateway call."""
    return 400, error_body(
        grpc.StatusCode.INVALID_ARGUMENT, f"{field}: {description}", [FieldViolation(field, description)]
    )
