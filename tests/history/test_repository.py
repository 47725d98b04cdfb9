"""The repository on SQLite and on PostgreSQL: idempotent batches, aggregates, paging, meters,
partitions and retention. The same tests run on both back ends."""

from __future__ import annotations

import math

import pytest

from gridtwin.history.repository import Repository
from gridtwin.history.schema import AGGREGATE_INTERVAL_US
from tests.history.items import T0_S, item


@pytest.fixture
def repo(database_url: str):  # type: ignore[no-untyped-def]
    r = Repository(database_url)
    r.create_schema()
    yield r
    r.dispose()


def test_writes_are_idempotent_on_meter_and_time(repo: Repository):
    batch = [item("m1", T0_S + 60 * k) for k in range(5)]
    assert repo.write(batch) == 5
    # A redelivered batch, and a batch with the same key twice, add nothing.
    assert repo.write(batch[2:]) == 0
    assert repo.write([item("m1", T0_S + 300), item("m1", T0_S + 300)]) == 1
    assert repo.stored_keys() == [("m1", (T0_S + 60 * k) * 1_000_000) for k in range(6)]
    (agg,) = repo.aggregates("m1", 0, 2**62)
    assert agg["n"] == 6  # redeliveries did not count twice


def test_ten_minute_aggregates_follow_iec_61000_4_30(repo: Repository):
    # Three readings in the first 10-min interval, one in the next; VUF and THD only where answered.
    repo.write(
        [
            item("m1", T0_S, v=(220.0, 230.0, 240.0), f=49.9, vuf=1.0, thd=3.0),
            item("m1", T0_S + 60, v=(230.0, 230.0, 230.0), f=50.0, vuf=2.0, thd=4.0, estimate=1),
            item("m1", T0_S + 120, v=(240.0, 230.0, 220.0), f=50.2),
            item("m1", T0_S + 600, v=(200.0, 210.0, 250.0), f=50.1),
        ]
    )
    first, second = repo.aggregates("m1", 0, 2**62)
    assert first["bucket_us"] == T0_S * 1_000_000
    assert second["bucket_us"] == T0_S * 1_000_000 + AGGREGATE_INTERVAL_US
    assert first["n"] == 3 and second["n"] == 1
    assert math.sqrt(first["sumsq_v_a"] / first["n"]) == pytest.approx(
        math.sqrt((220**2 + 230**2 + 240**2) / 3)
    )
    assert first["sum_v_b"] / first["n"] == pytest.approx(230.0)
    assert (first["min_v"], first["max_v"]) == (220.0, 240.0)
    assert (first["min_f"], first["max_f"]) == (49.9, 50.2)
    assert first["n_vuf"] == 2 and first["sumsq_vuf"] == pytest.approx(1.0 + 4.0)
    assert first["n_thd"] == 1 and first["sumsq_thd"] == pytest.approx(9.0)  # the estimate is not counted
    assert first["nominal_voltage_v"] == 230.0
    # Arriving later (another batch) adds to the same interval.
    repo.write([item("m1", T0_S + 180, v=(230.0, 230.0, 230.0), f=50.0)])
    assert repo.aggregates("m1", 0, 2**62)[0]["n"] == 4


def test_history_pages_in_time_order_and_meters_list(repo: Repository):
    repo.write([item("m2", T0_S + 60 * k, severity=1 + k % 3) for k in range(7)][::-1])
    repo.write([item("m1", T0_S)])
    start, end = T0_S * 1_000_000, (T0_S + 3600) * 1_000_000
    page = repo.history("m2", start, end, None, 3)
    assert [e.time_us // 1_000_000 - T0_S for e in page] == [0, 60, 120]
    rest = repo.history("m2", start, end, page[-1].time_us, 10)
    assert [e.time_us // 1_000_000 - T0_S for e in rest] == [180, 240, 300, 360]
    assert repo.history("m2", start + 1, start + 60 * 1_000_000, None, 10) == []
    meters = repo.list_meters()
    assert [m.meter_id for m in meters] == ["m1", "m2"]
    m2 = meters[1]
    assert (m2.readings, m2.first_us, m2.last_us) == (7, start, (T0_S + 360) * 1_000_000)
    assert m2.last_severity == 1 + 6 % 3  # the latest reading's, although it was written first
    assert [m.meter_id for m in repo.list_meters(prefix="m2")] == ["m2"]
    assert [m.meter_id for m in repo.list_meters(after="m1")] == ["m2"]
    assert repo.list_meters(prefix="m_") == []  # "_" is not a wildcard


def test_retention_removes_old_days(repo: Repository):
    day = 86_400
    repo.write([item("m1", T0_S - 3 * day), item("m1", T0_S - day), item("m1", T0_S)])
    repo.purge(T0_S * 1_000_000 - day * 1_000_000)  # keep the last day
    assert [t // 1_000_000 for _, t in repo.stored_keys()] == [T0_S - day, T0_S]
    assert len(repo.aggregates("m1", 0, 2**62)) == 2


def test_postgresql_partitions_by_day(postgres_url: str):
    repo = Repository(postgres_url)
    repo.create_schema()
    ahead = repo.partitions()
    assert len(ahead) >= 8  # today and a week ahead, created before any data
    repo.write([item("m1", T0_S), item("m1", T0_S + 86_400)])
    names = repo.partitions()
    assert "readings_p20251130" in names and "readings_p20251201" in names
    repo.dispose()
