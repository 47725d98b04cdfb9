"""The assessment stream: a Redis Stream `<prefix>assessments` that the gateway appends every
accepted assessment to (with its reading), and the history service consumes with the
consumer group `history`. Entry fields: `r` = gridtwin.v1.Reading, `a` = gridtwin.v1.Assessment
(both serialised protobuf). `Subscribe.resume_from` replays it by entry id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from gridtwin.history.rows import HistoryItem
from gridtwin.v1 import assessment_pb2, reading_pb2

GROUP = "history"
STREAM_ID = re.compile(r"^\d+-\d+$")


def stream_key(prefix: str) -> str:
    return f"{prefix}assessments"


def encode(reading: reading_pb2.Reading, assessment: assessment_pb2.Assessment) -> dict[bytes, bytes]:
    return {b"r": reading.SerializeToString(), b"a": assessment.SerializeToString()}


def decode(stream_id: bytes | str, fields: Mapping[bytes, bytes]) -> HistoryItem:
    """One entry → HistoryItem; raises ValueError for an entry that is not ours."""
    sid = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    try:
        reading = reading_pb2.Reading.FromString(fields[b"r"])
        assessment = assessment_pb2.Assessment.FromString(fields[b"a"])
    except Exception as exc:  # KeyError, DecodeError
        raise ValueError(f"stream entry {sid}: not a reading+assessment ({exc})") from exc
    if not reading.meter_id:
        raise ValueError(f"stream entry {sid}: reading without meter_id")
    return HistoryItem(sid, reading, assessment)


def is_stream_id(value: str) -> bool:
    return bool(STREAM_ID.match(value))
