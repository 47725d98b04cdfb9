"""Validation of an alarm acknowledgement, shared by the gateway and the history service
(no database code: the gateway holds no database driver)."""

from __future__ import annotations

from gridtwin.core.errors import FieldViolation
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import services_pb2

MAX_NOTE = 1000


def ack_violations(ack: services_pb2.AlarmAcknowledgement) -> list[FieldViolation]:
    """What is wrong with an acknowledgement request, field by field."""
    out = []
    if not ack.meter_id:
        out.append(FieldViolation("meter_id", "required"))
    if not ack.HasField("timestamp") or ack.timestamp.seconds <= 0:
        out.append(FieldViolation("timestamp", "required: the alarm's reading time"))
    if ack.model not in MODEL_MODULE:
        out.append(FieldViolation("model", f"unknown {ack.model!r}; known: {', '.join(MODEL_MODULE)}"))
    if ack.verdict not in (services_pb2.CONFIRMED, services_pb2.DISMISSED):
        out.append(FieldViolation("verdict", "CONFIRMED or DISMISSED"))
    if len(ack.note) > MAX_NOTE:
        out.append(FieldViolation("note", f"at most {MAX_NOTE} characters, got {len(ack.note)}"))
    return out
