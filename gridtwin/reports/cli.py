"""`gridtwin report en50160|models --meter ID [--feeder] --from DATE --to DATE --out FILE.pdf [--csv FILE.csv]`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    """ISO date or date-time; a date is its UTC midnight, a naive time is UTC."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date or date-time: {value!r}") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser("report", help="reports from the history database (EN 50160, models)")
    kinds = report.add_subparsers(dest="report", required=True)
    for kind, text in (
        ("en50160", "EN 50160 compliance (PDF + CSV)"),
        ("models", "per-model answers and latency"),
    ):
        p = kinds.add_parser(kind, help=text)
        p.add_argument("--meter", required=True, help="meter id (with --feeder: a meter-id prefix)")
        p.add_argument("--feeder", action="store_true", help="every meter whose id starts with --meter")
        p.add_argument("--from", dest="start", type=parse_time, required=True, help="start (ISO, UTC)")
        p.add_argument("--to", dest="end", type=parse_time, required=True, help="end, exclusive (ISO, UTC)")
        p.add_argument("--out", required=True, help="PDF path")
        p.add_argument("--csv", help="CSV path (statistics; raw assessments beside it)")
        p.add_argument("--database-url", help="default: $DATABASE_URL or var/history.sqlite3")
        if kind == "en50160":
            p.add_argument("--islanded", action="store_true", help="islanded system's frequency bands")
            p.add_argument(
                "--nominal-voltage", type=float, help="Un, V phase-to-neutral (default: from the readings)"
            )
            p.add_argument("--nominal-frequency", type=float, help="fn, Hz (default: from the readings)")
        p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gridtwin import reports
    from gridtwin.history.config import database_url
    from gridtwin.history.repository import Repository

    if args.end <= args.start:
        print("gridtwin report: --to must be after --from")
        return 2
    repo = Repository(args.database_url or database_url())
    try:
        meters = (
            [m.meter_id for m in repo.list_meters(prefix=args.meter, limit=100_000)]
            if args.feeder
            else [args.meter]
        )
        if not meters:
            print(f"gridtwin report: no meters with history match {args.meter!r}")
            return 1
        if args.report == "models":
            for meter in meters:
                report = reports.build_model_report(repo, meter, args.start, args.end)
                suffix = f".{meter}" if args.feeder else ""
                out = reports.render_model_pdf(report, _with_suffix(args.out, suffix))
                print(f"{meter}: {report.assessments} assessments -> {out}")
                if args.csv:
                    print(f"  csv: {reports.model_report_csv(report, _with_suffix(args.csv, suffix))}")
            return 0
        built = [
            reports.build_en50160(
                repo,
                meter,
                args.start,
                args.end,
                islanded=args.islanded,
                nominal_voltage_v=args.nominal_voltage,
                nominal_frequency_hz=args.nominal_frequency,
            )
            for meter in meters
        ]
        for r in built:
            verdicts = ", ".join(f"{c.key}={c.verdict}" for c in r.criteria)
            print(
                f"{r.meter_id}: {len(r.rows)} readings, {len(r.ten_min_s)} 10-min values: {r.verdict} ({verdicts})"
            )
        print(f"pdf: {reports.render_pdf(built, args.out)}")
        if args.csv:
            stats, raw = reports.to_csv(built, args.csv)
            print(f"csv: {stats} (statistics), {raw} (raw assessments)")
        return 0
    finally:
        repo.dispose()


def _with_suffix(path: str, suffix: str) -> str:
    if not suffix:
        return path
    base, dot, ext = path.rpartition(".")
    return f"{base}{suffix}.{ext}" if dot else path + suffix
