"""The repository: the one code path that writes and reads history on SQLite and PostgreSQL.

SQLAlchemy Core 2 with psycopg 3 on PostgreSQL. Writes are idempotent on (meter_id, time_us):
a batch inserts readings and assessments with ON CONFLICT DO NOTHING, and only the rows that
were really new (RETURNING) update the 10-min aggregates and the meter summaries, all in one
transaction — so a redelivered stream entry changes nothing, and a crash before the commit
leaves nothing half-written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, case, create_engine, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

from gridtwin.history import schema
from gridtwin.history.rows import HistoryItem, aggregate_deltas, assessment_row, meter_deltas, reading_row
from gridtwin.history.schema import US_PER_DAY, aggregates_10min, assessments, meters, readings

log = logging.getLogger(__name__)

#: Days of partitions created ahead of today on PostgreSQL.
PARTITIONS_AHEAD_DAYS = 7
#: SQLite: rows per multi-row INSERT … RETURNING, and prepared statements kept per connection.
#: SQLAlchemy renders a batch insert with RETURNING as one multi-row VALUES statement per page,
#: so each distinct page size is its own SQL text and its own prepared statement. Stream batches
#: come in every size from 1 to HISTORY_BATCH: with 1000-row pages and Python's 128-statement
#: cache, these large statements grew SQLite's heap by ~25 MB per connection (the history
#: service's RSS growth in the soak; bench/history_memory.py). Pages of 50 rows give at most 50
#: small statements, which the 64-slot cache holds with the fixed ones (nothing re-prepared).
SQLITE_INSERT_PAGE_ROWS = 50
SQLITE_CACHED_STATEMENTS = 64


@dataclass(frozen=True)
class StoredEntry:
    time_us: int
    stream_id: str
    reading: bytes  # gridtwin.v1.Reading
    assessment: bytes  # gridtwin.v1.Assessment


@dataclass(frozen=True)
class MeterRow:
    meter_id: str
    first_us: int
    last_us: int
    readings: int
    last_severity: int
    last_reading: bytes


def make_engine(url: str, sqlite_cached_statements: int = SQLITE_CACHED_STATEMENTS) -> Engine:
    """An engine for `url`; SQLite files get WAL (readers never block the writer), a busy
    timeout and a bounded prepared-statement cache, and their folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "cached_statements": int(sqlite_cached_statements)},
            insertmanyvalues_page_size=SQLITE_INSERT_PAGE_ROWS,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)


class Repository:
    def __init__(self, url: str, sqlite_cached_statements: int = SQLITE_CACHED_STATEMENTS) -> None:
        self.url = url
        self.engine = make_engine(url, sqlite_cached_statements)
        self.dialect = self.engine.dialect.name
        self._insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        self._partition_days: set[int] = set()

    @property
    def partitioned(self) -> bool:
        return self.dialect == "postgresql"

    # ---- schema ---------------------------------------------------------------------------

    def create_schema(self) -> None:
        """Create the tables if absent (and today's partitions plus a week ahead)."""
        schema.metadata.create_all(self.engine)
        if self.partitioned:
            today = schema.day_start_us(int(time.time() * 1e6))
            self.ensure_partitions(today + k * US_PER_DAY for k in range(-1, PARTITIONS_AHEAD_DAYS + 1))

    def ensure_partitions(self, days_us: Iterable[int]) -> None:
        """PostgreSQL: one RANGE partition per UTC day of `readings` and `assessments`."""
        if not self.partitioned:
            return
        missing = sorted({schema.day_start_us(d) for d in days_us} - self._partition_days)
        if not missing:
            return
        with self.engine.begin() as conn:
            for day in missing:
                for table in schema.PARTITIONED:
                    conn.execute(
                        text(
                            f"CREATE TABLE IF NOT EXISTS {schema.partition_name(table, day)} PARTITION OF "
                            f"{table} FOR VALUES FROM ({day}) TO ({day + US_PER_DAY})"
                        )
                    )
        self._partition_days.update(missing)

    def partitions(self) -> list[str]:
        """Names of the partitions of `readings` (PostgreSQL; empty on SQLite)."""
        if not self.partitioned:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings' ORDER BY 1"
                )
            )
            return [r[0] for r in rows]

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- writes ---------------------------------------------------------------------------

    def write(self, items: Sequence[HistoryItem]) -> int:
        """Store a batch in one transaction; returns how many (meter, time) keys were new."""
        unique: dict[tuple[str, int], HistoryItem] = {}
        for item in items:
            unique.setdefault(item.key, item)
        if not unique:
            return 0
        self.ensure_partitions(t for _, t in unique)
        batch = list(unique.values())
        with self.engine.begin() as conn:
            conn.execute(self._insert(readings).on_conflict_do_nothing(), [reading_row(i) for i in batch])
            inserted = conn.execute(
                self._insert(assessments)
                .on_conflict_do_nothing()
                .returning(assessments.c.meter_id, assessments.c.time_us),
                [assessment_row(i) for i in batch],
            ).all()
            new_keys = {(m, t) for m, t in inserted}
            new_items = [unique[k] for k in new_keys]
            if new_items:
                self._upsert_aggregates(conn, aggregate_deltas(new_items))
                self._upsert_meters(conn, meter_deltas(new_items))
        return len(new_keys)

    def _upsert_aggregates(self, conn: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        t = aggregates_10min
        ins = self._insert(t)
        ex = ins.excluded
        summed = ["n", "sum_f", "n_vuf", "sumsq_vuf", "n_thd", "sumsq_thd"]
        summed += [f"{k}_v_{p}" for k in ("sum", "sumsq") for p in "abc"]
        updates: dict[str, Any] = {c: t.c[c] + ex[c] for c in summed}
        for c in ("min_v", "min_f"):
            updates[c] = case((ex[c] < t.c[c], ex[c]), else_=t.c[c])
        for c in ("max_v", "max_f"):
            updates[c] = case((ex[c] > t.c[c], ex[c]), else_=t.c[c])
        for c in ("nominal_voltage_v", "nominal_frequency_hz"):
            updates[c] = func.coalesce(ex[c], t.c[c])
        conn.execute(
            ins.on_conflict_do_update(index_elements=[t.c.meter_id, t.c.bucket_us], set_=updates), rows
        )

    def _upsert_meters(self, conn: Any, rows: list[dict[str, Any]]) -> None:
        t = meters
        ins = self._insert(t)
        ex = ins.excluded
        newer = ex.last_us >= t.c.last_us
        updates = {
            "first_us": case((ex.first_us < t.c.first_us, ex.first_us), else_=t.c.first_us),
            "last_us": case((newer, ex.last_us), else_=t.c.last_us),
            "readings": t.c.readings + ex.readings,
            "last_severity": case((newer, ex.last_severity), else_=t.c.last_severity),
            "last_reading": case((newer, ex.last_reading), else_=t.c.last_reading),
        }
        conn.execute(ins.on_conflict_do_update(index_elements=[t.c.meter_id], set_=updates), rows)

    def purge(self, cutoff_us: int) -> int:
        """Remove history older than `cutoff_us` (retention). PostgreSQL drops whole day
        partitions that end at or before the cutoff; SQLite deletes rows. Returns rows or
        partitions removed."""
        removed = 0
        with self.engine.begin() as conn:
            if self.partitioned:
                cutoff_day = schema.day_start_us(cutoff_us)
                for table in schema.PARTITIONED:
                    for day in sorted(self._partition_days_of(conn, table)):
                        if day + US_PER_DAY <= cutoff_day:
                            conn.execute(text(f"DROP TABLE IF EXISTS {schema.partition_name(table, day)}"))
                            self._partition_days.discard(day)
                            removed += 1
            else:
                for table in (readings, assessments):
                    removed += conn.execute(table.delete().where(table.c.time_us < cutoff_us)).rowcount
            conn.execute(aggregates_10min.delete().where(aggregates_10min.c.bucket_us < cutoff_us))
        return removed

    def _partition_days_of(self, conn: Any, table: str) -> set[int]:
        from datetime import UTC, datetime

        rows = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"
            ),
            {"t": table},
        )
        days = set()
        for (name,) in rows:
            stamp = name.rsplit("_p", 1)[-1]
            day = datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=UTC)
            days.add(int(day.timestamp()) * 1_000_000)
        return days

    # ---- reads ----------------------------------------------------------------------------

    def history(
        self, meter_id: str, start_us: int, end_us: int, after_us: int | None, limit: int
    ) -> list[StoredEntry]:
        """Entries of one meter with start ≤ time < end (and time > after), oldest first."""
        a, r = assessments, readings
        lower = a.c.time_us >= start_us if after_us is None else a.c.time_us > max(after_us, start_us - 1)
        query = (
            select(a.c.time_us, a.c.stream_id, r.c.reading, a.c.assessment)
            .join(r, and_(r.c.meter_id == a.c.meter_id, r.c.time_us == a.c.time_us))
            .where(a.c.meter_id == meter_id, lower, a.c.time_us < end_us)
            .order_by(a.c.time_us)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [StoredEntry(*row) for row in conn.execute(query)]

    def count(self, meter_id: str | None = None) -> int:
        query = select(func.count()).select_from(assessments)
        if meter_id is not None:
            query = query.where(assessments.c.meter_id == meter_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def stored_keys(self, meter_id: str | None = None) -> list[tuple[str, int]]:
        """Every stored (meter_id, time_us), duplicates included (a test of idempotency)."""
        query = select(assessments.c.meter_id, assessments.c.time_us).order_by(
            assessments.c.meter_id, assessments.c.time_us
        )
        if meter_id is not None:
            query = query.where(assessments.c.meter_id == meter_id)
        with self.engine.connect() as conn:
            return [(m, t) for m, t in conn.execute(query)]

    def list_meters(self, prefix: str = "", after: str | None = None, limit: int = 1000) -> list[MeterRow]:
        """Meters with stored history, by id; `prefix` filters, `after` pages."""
        t = meters
        query = select(t).order_by(t.c.meter_id).limit(limit)
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(t.c.meter_id.like(escaped + "%", escape="\\"))
        if after is not None:
            query = query.where(t.c.meter_id > after)
        with self.engine.connect() as conn:
            return [MeterRow(*row) for row in conn.execute(query)]

    def aggregates(self, meter_id: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """10-min aggregate rows of one meter with start ≤ interval start < end, in order."""
        t = aggregates_10min
        query = (
            select(t)
            .where(t.c.meter_id == meter_id, t.c.bucket_us >= start_us, t.c.bucket_us < end_us)
            .order_by(t.c.bucket_us)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def assessment_rows(self, meter_id: str, start_us: int, end_us: int) -> list[dict[str, Any]]:
        """Reading columns with the assessment's summary columns (no protobuf), in time order."""
        r, a = readings, assessments
        cols = [c for c in r.c if c.name != "reading"]
        cols += [a.c.stream_id, a.c.severity, a.c.vuf_pct, a.c.thd_pct, a.c.total_ms]
        query = (
            select(*cols)
            .join(a, and_(a.c.meter_id == r.c.meter_id, a.c.time_us == r.c.time_us))
            .where(r.c.meter_id == meter_id, r.c.time_us >= start_us, r.c.time_us < end_us)
            .order_by(r.c.time_us)
        )
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def assessment_blobs(self, meter_id: str, start_us: int, end_us: int) -> list[tuple[int, bytes]]:
        a = assessments
        query = (
            select(a.c.time_us, a.c.assessment)
            .where(a.c.meter_id == meter_id, a.c.time_us >= start_us, a.c.time_us < end_us)
            .order_by(a.c.time_us)
        )
        with self.engine.connect() as conn:
            return [(t, blob) for t, blob in conn.execute(query)]
