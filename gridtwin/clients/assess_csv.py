"""`gridtwin assess --csv FILE [--out assessments.csv|.parquet]`: a user's own readings
through the running mesh (AssessStream), with a progress bar, bad rows reported by line and
field, and a summary of alarms by model and severity.

Columns (the simulator's and `gridtwin forecast`'s conventions): a timestamp column named
timestamp/time/datetime/ds/date (RFC 3339 / ISO 8601; naive times are local to `--tz`,
default UTC), `meter_id`, `voltage_a|b|c` (V phase-to-neutral RMS), `current_a|b|c` (A RMS),
`active_power_a|b|c` (W), `reactive_power_a|b|c` (var), `frequency` (Hz), and optionally
`nominal_voltage` (V), `nominal_frequency` (Hz), `ambient_temperature` (°C). A row with a
missing or unreadable field is reported (line, field) and not sent; the mesh's own checks
(e.g. power consistency) come back per reading with the field named; every other row is
assessed.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gridtwin.core.errors import field_violations
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2, reading_pb2

TIMESTAMP_NAMES = ("timestamp", "time", "datetime", "ds", "date")
PHASED = ("voltage", "current", "active_power", "reactive_power")
REQUIRED = ("meter_id", *(f"{q}_{p}" for q in PHASED for p in "abc"), "frequency")
OPTIONAL = ("nominal_voltage", "nominal_frequency", "ambient_temperature")
ALARM_FROM = assessment_pb2.WARNING


@dataclass(frozen=True)
class BadRow:
    line: int  # 1-based line of the file (the header is line 1)
    field: str
    problem: str


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("assess", help="assess a CSV of your own readings through the running mesh")
    p.add_argument("--csv", required=True, help="readings, one per row (columns: see `gridtwin assess -h`)")
    p.add_argument("--out", help="write the assessments here (.csv or .parquet)")
    p.add_argument("--tz", help="zone of naive timestamps, e.g. Europe/Berlin (default UTC)")
    p.add_argument("--timestamp-col", help="timestamp column (default: timestamp/time/datetime/ds/date)")
    p.add_argument("--gateway", help="gateway address (default: $GATEWAY_ADDR or 127.0.0.1:50051)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.epilog = __doc__
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(handler=cmd_assess)


def _timestamp(text: str, tz: str | None) -> pd.Timestamp:
    ts = pd.Timestamp(text)
    if ts.tzinfo is None:
        ts = ts.tz_localize(tz or "UTC", ambiguous="raise", nonexistent="raise")
    return ts.tz_convert("UTC")


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def parse_rows(
    frame: pd.DataFrame, timestamp_col: str, tz: str | None
) -> tuple[list[tuple[int, reading_pb2.Reading]], list[BadRow]]:
    """Readings (with their file line) from the rows that parse, and the rows that do not."""
    readings: list[tuple[int, reading_pb2.Reading]] = []
    bad: list[BadRow] = []
    optional = [c for c in OPTIONAL if c in frame.columns]
    for index, row in enumerate(frame.itertuples(index=False, name=None)):
        line = index + 2
        values = dict(zip(frame.columns, row, strict=True))
        problems: list[BadRow] = []
        reading = reading_pb2.Reading()
        try:
            ts = _timestamp(str(values[timestamp_col]).strip(), tz)
            reading.timestamp.seconds, reading.timestamp.nanos = divmod(ts.value, 1_000_000_000)
        except (ValueError, TypeError, OverflowError) as exc:
            problems.append(
                BadRow(line, timestamp_col, f"unreadable timestamp {values[timestamp_col]!r} ({exc})")
            )
        meter = str(values["meter_id"]).strip()
        if not meter or meter == "nan":
            problems.append(BadRow(line, "meter_id", "missing"))
        reading.meter_id = meter
        for column in (*REQUIRED[1:], *optional):
            raw = str(values[column]).strip()
            if column in optional and raw in ("", "nan"):
                continue
            try:
                number = _number(raw)
            except ValueError:
                problems.append(
                    BadRow(line, column, f"not a number: {raw!r}" if raw not in ("", "nan") else "missing")
                )
                continue
            quantity, _, phase = column.rpartition("_")
            if quantity in PHASED:
                setattr(getattr(reading, quantity), phase, number)
            else:
                setattr(reading, column, number)
        if problems:
            bad.extend(problems)
        else:
            readings.append((line, reading))
    return readings, bad


def read_csv(path: str | Path, timestamp_col: str | None) -> tuple[pd.DataFrame, str]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if frame.empty:
        raise ValueError(f"{path}: no rows")
    if timestamp_col is None:
        lowered = {c.lower(): c for c in frame.columns}
        timestamp_col = next((lowered[k] for k in TIMESTAMP_NAMES if k in lowered), None)
    if timestamp_col is None or timestamp_col not in frame.columns:
        raise ValueError(
            f"{path}: no timestamp column (looked for {TIMESTAMP_NAMES}; columns: {list(frame.columns)})"
        )
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    return frame, timestamp_col


def assessment_row(line: int, assessment: assessment_pb2.Assessment) -> dict[str, Any]:
    """One output row: the reading's line, its status, worst severity and every model's
    status, severity and detail."""
    row: dict[str, Any] = {
        "line": line,
        "meter_id": assessment.meter_id,
        "timestamp": pd.Timestamp(assessment.timestamp.ToNanoseconds(), tz="UTC"),
        "status": "OK" if assessment.status.code == 0 else assessment.status.message,
        "severity": assessment_pb2.Severity.Name(assessment.severity),
    }
    for model in MODEL_MODULE:
        info = getattr(assessment, model).info
        row[f"{model}_status"] = assessment_pb2.ModelStatus.Name(info.status)
        row[f"{model}_severity"] = assessment_pb2.Severity.Name(info.severity)
        row[f"{model}_detail"] = info.detail
    return row


def stream(
    address: str, readings: list[reading_pb2.Reading], progress: bool
) -> Iterator[assessment_pb2.Assessment]:
    """Assessments of `readings` in order, over one AssessStream."""
    import grpc
    from tqdm import tqdm

    from gridtwin.core.channels import CHANNEL_OPTIONS
    from gridtwin.v1 import gateway_pb2_grpc

    with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        replies = stub.AssessStream(iter(readings))
        yield from tqdm(replies, total=len(readings), unit="reading", disable=not progress, file=sys.stderr)


def summary(rows: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Alarms (answers at least WARNING) counted by (model, severity)."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for model in MODEL_MODULE:
            severity = row[f"{model}_severity"]
            if assessment_pb2.Severity.Value(severity) >= ALARM_FROM:
                counts[(model, severity)] += 1
    return counts


def write(rows: list[dict[str, Any]], out: str) -> None:
    frame = pd.DataFrame(rows)
    if out.endswith(".parquet"):
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)


def cmd_assess(args: argparse.Namespace) -> int:
    from gridtwin.core.config import service_addr

    if args.out and not args.out.endswith((".csv", ".parquet")):
        print("assess: --out must end in .csv or .parquet", file=sys.stderr)
        return 2
    try:
        frame, ts_col = read_csv(args.csv, args.timestamp_col)
    except (OSError, ValueError) as exc:
        print(f"assess: {exc}", file=sys.stderr)
        return 2
    parsed, bad = parse_rows(frame, ts_col, args.tz)
    for problem in bad:
        print(f"{args.csv}:{problem.line}: {problem.field}: {problem.problem}", file=sys.stderr)
    lines = [line for line, _ in parsed]
    rows: list[dict[str, Any]] = []
    rejected = 0
    if parsed:
        replies = stream(
            args.gateway or service_addr("gateway"), [r for _, r in parsed], not args.no_progress
        )
        for line, assessment in zip(lines, replies, strict=True):
            if assessment.status.code != 0:
                rejected += 1
                fields = field_violations(assessment.status)
                for v in fields or []:
                    print(
                        f"{args.csv}:{line}: {v.field}: {v.description} (rejected by the mesh)",
                        file=sys.stderr,
                    )
                if not fields:
                    print(
                        f"{args.csv}:{line}: {assessment.status.message} (rejected by the mesh)",
                        file=sys.stderr,
                    )
            rows.append(assessment_row(line, assessment))
    assessed = [r for r in rows if r["status"] == "OK"]
    bad_lines = len({b.line for b in bad})
    print(
        f"{len(frame)} rows: {len(assessed)} assessed, {bad_lines} unreadable, {rejected} rejected by the mesh"
    )
    alarms = summary(assessed)
    if alarms:
        print("alarms (answers at WARNING or above) by model and severity:")
        for (model, severity), n in sorted(alarms.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"  {model:<26} {severity:<9} {n}")
    else:
        print("no alarms (no model answered WARNING or above)")
    if args.out:
        write(rows, args.out)
        print(f"wrote {len(rows)} assessments to {args.out}")
    return 0 if not bad and not rejected else 1
