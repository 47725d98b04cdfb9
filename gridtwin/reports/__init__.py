"""Reports from the history database: EN 50160 compliance (PDF + CSV) and per-model summaries.

Library entry points (the CLI and the web service call these):
`build_en50160(repo, meter, start, end) -> En50160Report`, `render_pdf(report, path)`,
`to_csv(report, path)`, `build_model_report`, `render_model_pdf`, `model_report_csv`.
"""

from gridtwin.reports.compliance import En50160Report, build_en50160, build_feeder
from gridtwin.reports.models import ModelReport, build_model_report, model_report_csv, render_model_pdf
from gridtwin.reports.pdf import render_pdf
from gridtwin.reports.tables import to_csv

__all__ = [
    "En50160Report",
    "ModelReport",
    "build_en50160",
    "build_feeder",
    "build_model_report",
    "model_report_csv",
    "render_model_pdf",
    "render_pdf",
    "to_csv",
]
