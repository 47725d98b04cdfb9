"""Tables of the history database, identical on SQLite and PostgreSQL.

Time is `time_us`, microseconds since the Unix epoch (UTC) as a BIGINT: exact, ordered the
same way on both back ends, and the key of the time partitions on PostgreSQL.

* `readings` and `assessments`: one row per (meter_id, time_us) — the primary key is the
  idempotency key, so a redelivered stream entry is a no-op (ON CONFLICT DO NOTHING). Both
  keep the full protobuf message (`reading`, `assessment`) beside the columns that queries use.
  PostgreSQL: declarative RANGE partitions on `time_us`, one per UTC day, created ahead and on
  demand; the primary key doubles as the (meter_id, time) index of every partition.
* `aggregates_10min`: per meter and 10-min interval (EN 50160's unit for voltage, unbalance
  and harmonics), running sums maintained in the same transaction as the rows they summarise.
  The 10-min value of a quantity is the RMS of its readings in the interval
  (IEC 61000-4-30 interval aggregation: √(Σx²/n)); mean, min and max are kept too.
* `meters`: one row per meter with first/last time, count, latest severity and reading.
* `alarm_acks`: an operator's verdict (confirmed / dismissed) on one model's alarm at one
  stored assessment, with the version that raised it; the latest verdict per alarm is kept
  (gridtwin.history.acks). Not purged with the readings: the alarm precision of a version is
  counted over its whole service.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
)

metadata = MetaData()

PARTITIONED = ("readings", "assessments")
US_PER_DAY = 86_400_000_000
AGGREGATE_INTERVAL_US = 600_000_000  # 10 min

readings = Table(
    "readings",
    metadata,
    Column("meter_id", String, primary_key=True),
    Column("time_us", BigInteger, primary_key=True),
    Column("voltage_a_v", Float),
    Column("voltage_b_v", Float),
    Column("voltage_c_v", Float),
    Column("current_a_a", Float),
    Column("current_b_a", Float),
    Column("current_c_a", Float),
    Column("active_power_a_w", Float),
    Column("active_power_b_w", Float),
    Column("active_power_c_w", Float),
    Column("reactive_power_a_var", Float),
    Column("reactive_power_b_var", Float),
    Column("reactive_power_c_var", Float),
    Column("frequency_hz", Float),
    Column("nominal_voltage_v", Float),
    Column("nominal_frequency_hz", Float),
    Column("reading", LargeBinary, nullable=False),  # gridtwin.v1.Reading
    postgresql_partition_by="RANGE (time_us)",
)

assessments = Table(
    "assessments",
    metadata,
    Column("meter_id", String, primary_key=True),
    Column("time_us", BigInteger, primary_key=True),
    Column("stream_id", String(40), nullable=False),  # position in the Redis Stream
    Column("severity", SmallInteger, nullable=False),
    Column("vuf_pct", Float),  # phase_imbalance.vuf_pct when answered
    Column("thd_pct", Float),  # harmonic_analysis THD when measured (not an estimate)
    Column("total_ms", Float),
    Column("assessment", LargeBinary, nullable=False),  # gridtwin.v1.Assessment
    postgresql_partition_by="RANGE (time_us)",
)

aggregates_10min = Table(
    "aggregates_10min",
    metadata,
    Column("meter_id", String, primary_key=True),
    Column("bucket_us", BigInteger, primary_key=True),  # start of the 10-min interval
    Column("n", Integer, nullable=False),
    Column("nominal_voltage_v", Float),
    Column("nominal_frequency_hz", Float),
    *(Column(f"sum_v_{p}", Float, nullable=False) for p in "abc"),
    *(Column(f"sumsq_v_{p}", Float, nullable=False) for p in "abc"),
    Column("min_v", Float, nullable=False),  # lowest phase voltage of any reading, V
    Column("max_v", Float, nullable=False),
    Column("sum_f", Float, nullable=False),
    Column("min_f", Float, nullable=False),
    Column("max_f", Float, nullable=False),
    Column("n_vuf", Integer, nullable=False),
    Column("sumsq_vuf", Float, nullable=False),
    Column("n_thd", Integer, nullable=False),
    Column("sumsq_thd", Float, nullable=False),
)

meters = Table(
    "meters",
    metadata,
    Column("meter_id", String, primary_key=True),
    Column("first_us", BigInteger, nullable=False),
    Column("last_us", BigInteger, nullable=False),
    Column("readings", BigInteger, nullable=False),
    Column("last_severity", SmallInteger, nullable=False),
    Column("last_reading", LargeBinary, nullable=False),
)


alarm_acks = Table(
    "alarm_acks",
    metadata,
    Column("meter_id", String, primary_key=True),
    Column("time_us", BigInteger, primary_key=True),
    Column("model", String, primary_key=True),
    Column("model_version", String, nullable=False),
    Column("severity", SmallInteger, nullable=False),
    Column("verdict", SmallInteger, nullable=False),  # gridtwin.v1.AlarmVerdict
    Column("note", String, nullable=False),
    Column("acknowledged_by", String, nullable=False),
    Column("acknowledged_at_us", BigInteger, nullable=False),
)


def day_start_us(time_us: int) -> int:
    return (time_us // US_PER_DAY) * US_PER_DAY


def partition_name(table: str, day_us: int) -> str:
    from datetime import UTC, datetime

    return f"{table}_p{datetime.fromtimestamp(day_us / 1e6, tz=UTC):%Y%m%d}"
