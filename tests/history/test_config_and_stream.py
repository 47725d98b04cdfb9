"""History settings, stream entries and the not-applicable rule (no processes)."""

from __future__ import annotations

import pytest

from gridtwin.answers import answer_class
from gridtwin.core.config import DEFAULT_PORTS, reset_settings
from gridtwin.history.config import DEFAULT_DATABASE_URL, database_url
from gridtwin.history.stream import decode, encode, is_stream_id
from gridtwin.launcher import history_line
from gridtwin.mesh import ENTRY_POINTS, Mesh
from gridtwin.v1 import assessment_pb2
from tests.history.items import T0_S, item


def test_sqlite_under_var_is_the_default_and_database_url_wins(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url() == DEFAULT_DATABASE_URL
    assert DEFAULT_DATABASE_URL.startswith("sqlite:///") and DEFAULT_DATABASE_URL.endswith(
        "var/history.sqlite3"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:secret@db:5432/h")
    reset_settings()  # settings are read once per process
    assert database_url() == "postgresql+psycopg://u:secret@db:5432/h"


def test_history_is_part_of_the_mesh_and_the_launcher_says_where_it_goes(tmp_path):
    assert ENTRY_POINTS["history"] == "services.history" and DEFAULT_PORTS["history"] == 50058
    mesh = Mesh(ports={"history": 1}, log_dir=tmp_path)
    assert mesh.env()["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve() / 'history.sqlite3'}"
    pg = Mesh(ports={}, log_dir=tmp_path, database_url="postgresql+psycopg://u:secret@db:5432/h")
    line = history_line(pg)
    assert "db:5432/h" in line and "secret" not in line and "assessments" in line


def test_stream_entries_round_trip_and_foreign_entries_are_refused():
    it = item("m1", T0_S, vuf=1.5)
    back = decode(b"1-0", encode(it.reading, it.assessment))
    assert (back.stream_id, back.reading, back.assessment) == ("1-0", it.reading, it.assessment)
    with pytest.raises(ValueError, match="not a reading"):
        decode("2-0", {b"a": b"\xff\xff"})
    assert is_stream_id("1764500000000-0") and not is_stream_id("$") and not is_stream_id("1-0; DEL")


def test_not_applicable_is_told_apart_from_degraded():
    info = assessment_pb2.ModelInfo(status=assessment_pb2.DEGRADED)
    info.detail = "customer meter: feeder state not observable from one connection; feeder losses need …"
    assert answer_class(info) == "NOT_APPLICABLE"
    info.detail = "no phase map for this meter: load balancing answers for the transformer …"
    assert answer_class(info) == "NOT_APPLICABLE"
    info.detail = "12.0 h of history: day features partial"
    assert answer_class(info) == "DEGRADED"
    info.status = assessment_pb2.OK
    info.detail = "customer meter: feeder state not observable from one connection"
    assert answer_class(info) == "OK"  # an answer that is OK counts as OK
