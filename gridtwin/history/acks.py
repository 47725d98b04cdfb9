"""Operators' acknowledgements of alarms, and the alarm precision they give.

An alarm is one model's answer above NORMAL (ADVISORY, WARNING or CRITICAL: what the model
raises for an operator; voltage_anomaly's detections are ADVISORY) to one stored reading. An operator confirms
it (a real problem) or dismisses it (a false alarm); the latest verdict per alarm is stored
with who gave it, when, and the model version that raised the alarm (read from the stored
assessment, not trusted from the caller). A version's alarm precision is
confirmed / (confirmed + dismissed) over its acknowledged alarms: the share of its alarms an
operator judged real. Alarms nobody acknowledged are not counted either way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import delete, func, select

from gridtwin.history.schema import alarm_acks, assessments
from gridtwin.v1 import assessment_pb2, services_pb2

ALARM = (assessment_pb2.ADVISORY, assessment_pb2.WARNING, assessment_pb2.CRITICAL)
US = 1_000_000


class NotAnAlarm(Exception):
    """The acknowledged reading is not stored, or the model raised no alarm on it."""

    def __init__(self, reason: str, stored: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stored = stored


def _time_us(ack: services_pb2.AlarmAcknowledgement) -> int:
    return ack.timestamp.seconds * US + ack.timestamp.nanos // 1000


def acknowledge(
    repo: Any, ack: services_pb2.AlarmAcknowledgement, who: str, now_us: int
) -> services_pb2.AlarmAcknowledgement:
    """Store the verdict on the alarm `ack` names (replacing an earlier one); the stored
    acknowledgement with who, when, the version and the severity. NotAnAlarm otherwise."""
    time_us = _time_us(ack)
    a = assessments
    query = select(a.c.assessment).where(a.c.meter_id == ack.meter_id, a.c.time_us == time_us)
    with repo.engine.connect() as conn:
        blob = conn.execute(query).scalar_one_or_none()
    if blob is None:
        raise NotAnAlarm(f"no stored assessment of {ack.meter_id} at that time", stored=False)
    info = getattr(assessment_pb2.Assessment.FromString(blob), ack.model).info
    if info.severity not in ALARM:
        severity = assessment_pb2.Severity.Name(info.severity)
        raise NotAnAlarm(f"{ack.model} raised no alarm there (severity {severity})", stored=True)
    row = {
        "meter_id": ack.meter_id,
        "time_us": time_us,
        "model": ack.model,
        "model_version": info.model_version,
        "severity": int(info.severity),
        "verdict": int(ack.verdict),
        "note": ack.note,
        "acknowledged_by": who,
        "acknowledged_at_us": now_us,
    }
    t = alarm_acks
    with repo.engine.begin() as conn:  # one transaction: the latest verdict replaces the earlier
        key = (t.c.meter_id == ack.meter_id, t.c.time_us == time_us, t.c.model == ack.model)
        conn.execute(delete(t).where(*key))
        conn.execute(t.insert().values(**row))
    stored = services_pb2.AlarmAcknowledgement()
    stored.CopyFrom(ack)
    stored.acknowledged_by = who
    stored.acknowledged_at.FromMicroseconds(now_us)
    stored.model_version = info.model_version
    stored.severity = info.severity
    return stored


def verdict_counts(repo: Any) -> dict[tuple[str, str], dict[int, int]]:
    """(model, version) → {verdict: acknowledged alarms}."""
    t = alarm_acks
    query = select(t.c.model, t.c.model_version, t.c.verdict, func.count()).group_by(
        t.c.model, t.c.model_version, t.c.verdict
    )
    out: dict[tuple[str, str], dict[int, int]] = defaultdict(dict)
    with repo.engine.connect() as conn:
        for model, version, verdict, n in conn.execute(query):
            out[(model, version)][int(verdict)] = int(n)
    return dict(out)
