"""CSV output of the reports: the statistics (one row per figure) and the raw assessments."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gridtwin.reports import en50160 as en
from gridtwin.reports.compliance import En50160Report

STAT_COLUMNS = ("meter_id", "section", "item", "value", "unit", "verdict", "detail")


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).isoformat()


def statistics_rows(report: En50160Report) -> list[dict[str, object]]:
    m = report.meter_id
    rows: list[dict[str, object]] = []
    for c in report.criteria:
        rows.append(
            {
                "meter_id": m,
                "section": f"criterion {c.clause}",
                "item": c.key,
                "value": "" if c.measured_pct is None else round(c.measured_pct, 4),
                "unit": "% within",
                "verdict": c.verdict,
                "detail": f"{c.requirement}; required {c.required_pct:g} %; {c.detail}",
            }
        )
    for w in report.weeks:
        for item, value in (
            ("voltage_within_10pct", w.voltage_within_10pct),
            ("vuf_within_2pct", w.vuf_within_pct),
            ("thd_within_8pct", w.thd_within_pct),
        ):
            rows.append(
                {
                    "meter_id": m,
                    "section": f"week from {_iso(w.start_s)}",
                    "item": item,
                    "value": "" if value is None else round(value, 4),
                    "unit": "% of 10-min values",
                    "verdict": "",
                    "detail": f"{w.values} 10-min values",
                }
            )
    for table, rows_pct, cols_s, name in (
        (report.dips, en.DIP_ROWS_PCT, en.DIP_COLUMNS_S, "dips"),
        (report.swells, en.SWELL_ROWS_PCT, en.SWELL_COLUMNS_S, "swells"),
    ):
        for i, (lo, hi) in enumerate(rows_pct):
            for j, (a, b) in enumerate(cols_s):
                rows.append(
                    {
                        "meter_id": m,
                        "section": name,
                        "item": f"u {lo:g}–{hi:g} % x t {a:g}–{b:g} s",
                        "value": int(table[i, j]),
                        "unit": "events",
                        "verdict": "",
                        "detail": "",
                    }
                )
    return rows


def to_csv(reports: En50160Report | Sequence[En50160Report], path: str | Path) -> tuple[Path, Path]:
    """Write the statistics to `path` and the raw assessments beside it
    (`<stem>.assessments.csv`); returns both paths."""
    reports = [reports] if isinstance(reports, En50160Report) else list(reports)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=STAT_COLUMNS)
        writer.writeheader()
        for report in reports:
            writer.writerows(statistics_rows(report))
    raw = path.with_name(path.stem + ".assessments.csv")
    columns: list[str] = []
    for report in reports:
        if report.rows:
            columns = ["time", *report.rows[0].keys()]
            break
    with raw.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns or ["time", "meter_id"])
        writer.writeheader()
        for report in reports:
            for row in report.rows:
                writer.writerow({"time": _iso(row["time_us"] / 1e6), **row})
    return path, raw
