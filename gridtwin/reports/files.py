"""A report as a file in memory (PDF or CSV bytes): what the history service answers the
gateway's `Report` with. Built from the repository by the same functions as
`gridtwin report en50160|models`, so the CLI, gRPC and REST give the same report."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from gridtwin.history.repository import Repository
from gridtwin.reports.compliance import build_en50160
from gridtwin.reports.models import build_model_report, model_report_csv, render_model_pdf
from gridtwin.reports.pdf import render_pdf
from gridtwin.reports.request import ReportQuery
from gridtwin.reports.tables import to_csv
from gridtwin.v1 import gateway_pb2

# One report at a time per process: matplotlib's pyplot state is not thread-safe, and a year's
# rows held twice would double the memory of a history replica.
_BUILD_LOCK = threading.Lock()


def build_report_file(repo: Repository, query: ReportQuery) -> gateway_pb2.ReportFile | None:
    """The report's bytes, or None when the meter has no stored assessment in the range.

    Blocking (database reads, matplotlib, reportlab): run it in a worker thread. The CSV of the
    EN 50160 report is its statistics (criteria, weeks, dip and swell tables); the raw
    assessments stay with the CLI's `--csv` and the History RPC."""
    with _BUILD_LOCK:
        return _build(repo, query)


def _build(repo: Repository, query: ReportQuery) -> gateway_pb2.ReportFile | None:
    with tempfile.TemporaryDirectory(prefix="gridtwin-report-") as folder:
        out = Path(folder) / f"report.{query.format}"
        if query.kind == "models":
            report = build_model_report(repo, query.meter_id, query.start, query.end)
            if report.assessments == 0:
                return None
            path = model_report_csv(report, out) if query.format == "csv" else render_model_pdf(report, out)
        else:
            en = build_en50160(
                repo,
                query.meter_id,
                query.start,
                query.end,
                islanded=query.islanded,
                nominal_voltage_v=query.nominal_voltage_v,
                nominal_frequency_hz=query.nominal_frequency_hz,
            )
            if not en.rows and not len(en.ten_min_s):
                return None
            path = to_csv(en, out)[0] if query.format == "csv" else render_pdf(en, out)
        content = path.read_bytes()
    return gateway_pb2.ReportFile(content=content, media_type=query.media_type, filename=query.filename)
