"""Reports from the history database: EN 50160 compliance (PDF + CSV) and per-model summaries.

Library entry points (the CLI and the history service call these):
`build_en50160(repo, meter, start, end) -> En50160Report`, `render_pdf(report, path)`,
`to_csv(report, path)`, `build_model_report`, `render_model_pdf`, `model_report_csv`, and
`build_report_file(repo, query) -> ReportFile` for a `ReportRequest` checked by
`gridtwin.reports.request.parse_report`.

The names load on first use: `gridtwin.reports.request` (imported by the gateway to validate
requests) must not pull in matplotlib, reportlab or a database driver.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_HOMES = {
    "En50160Report": "compliance",
    "build_en50160": "compliance",
    "build_feeder": "compliance",
    "ModelReport": "models",
    "build_model_report": "models",
    "model_report_csv": "models",
    "render_model_pdf": "models",
    "render_pdf": "pdf",
    "to_csv": "tables",
    "build_report_file": "files",
}

if TYPE_CHECKING:
    from gridtwin.reports.compliance import En50160Report, build_en50160, build_feeder
    from gridtwin.reports.files import build_report_file
    from gridtwin.reports.models import ModelReport, build_model_report, model_report_csv, render_model_pdf
    from gridtwin.reports.pdf import render_pdf
    from gridtwin.reports.tables import to_csv


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)


__all__ = [
    "En50160Report",
    "ModelReport",
    "build_en50160",
    "build_feeder",
    "build_model_report",
    "build_report_file",
    "model_report_csv",
    "render_model_pdf",
    "render_pdf",
    "to_csv",
]
