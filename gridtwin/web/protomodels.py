"""Pydantic models generated from the protobuf descriptors, in the proto3 JSON mapping.

The web service's bodies are the gRPC messages in their canonical JSON form (lowerCamelCase
names, enums by name, Timestamps as RFC 3339 strings, int64 as strings, NaN/Infinity as
strings). Generating the models from the descriptors keeps the OpenAPI document exactly in
step with the contract in protos/ and precise enough for schemathesis: every field, type,
enum value and integer range is in the schema. The models only describe and pre-check the
JSON; `google.protobuf.json_format` does the conversion, so the proto rules stay the single
source of truth.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from google.protobuf import timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model

# The JSON mapping writes non-finite doubles as these strings.
NonFinite = Literal["NaN", "Infinity", "-Infinity"]
Double = float | NonFinite
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
UInt32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
# int64 travels as a decimal string (JSON numbers lose precision beyond 2**53).
Int64 = Annotated[str, Field(pattern=r"^-?[0-9]{1,19}$")] | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _rfc3339(text: str) -> str:
    """Reject what protobuf's Timestamp parser rejects, so the error names the field."""
    try:
        timestamp_pb2.Timestamp().FromJsonString(text)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 timestamp with a zone ({exc})") from None
    return text


Timestamp = Annotated[
    str,
    AfterValidator(_rfc3339),
    Field(
        json_schema_extra={"format": "date-time"},
        description="RFC 3339 with a zone, e.g. 2026-01-01T12:00:00Z",
    ),
]

_SCALARS: dict[int, Any] = {
    FieldDescriptor.TYPE_DOUBLE: Double,
    FieldDescriptor.TYPE_FLOAT: Double,
    FieldDescriptor.TYPE_INT32: Int32,
    FieldDescriptor.TYPE_SINT32: Int32,
    FieldDescriptor.TYPE_SFIXED32: Int32,
    FieldDescriptor.TYPE_UINT32: UInt32,
    FieldDescriptor.TYPE_FIXED32: UInt32,
    FieldDescriptor.TYPE_INT64: Int64,
    FieldDescriptor.TYPE_SINT64: Int64,
    FieldDescriptor.TYPE_SFIXED64: Int64,
    FieldDescriptor.TYPE_UINT64: Int64,
    FieldDescriptor.TYPE_FIXED64: Int64,
    FieldDescriptor.TYPE_BOOL: bool,
    FieldDescriptor.TYPE_STRING: str,
    FieldDescriptor.TYPE_BYTES: Annotated[str, Field(json_schema_extra={"format": "byte"})],
}

_cache: dict[str, type[BaseModel]] = {}


def _is_repeated(field: FieldDescriptor) -> bool:
    # protobuf ≥ 5 exposes is_repeated; older releases only the label
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == FieldDescriptor.LABEL_REPEATED


def _field_type(field: FieldDescriptor) -> Any:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        full = field.message_type.full_name
        if full == "google.protobuf.Timestamp":
            return Timestamp
        if full == "google.protobuf.Any":
            return dict[str, Any]
        return model_for(field.message_type)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return Literal[tuple(v.name for v in field.enum_type.values)]  # type: ignore[misc]
    return _SCALARS[field.type]


def model_for(descriptor: Descriptor) -> type[BaseModel]:
    """The Pydantic model of a message (cached; named after the message)."""
    if descriptor.full_name in _cache:
        return _cache[descriptor.full_name]
    fields: dict[str, Any] = {}
    for field in descriptor.fields:
        annotation = _field_type(field)
        if _is_repeated(field):
            annotation = list[annotation]  # type: ignore[valid-type]
        fields[field.name] = (annotation | None, Field(default=None, alias=field.json_name))
    model = create_model(  # type: ignore[call-overload]
        descriptor.name,
        __config__=ConfigDict(extra="forbid", populate_by_name=True),
        __doc__=f"`{descriptor.full_name}` in the proto3 JSON mapping.",
        **fields,
    )
    _cache[descriptor.full_name] = model
    return model


def to_json_dict(model: BaseModel) -> dict[str, Any]:
    """A validated body back to the plain JSON that json_format.ParseDict reads."""
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")
