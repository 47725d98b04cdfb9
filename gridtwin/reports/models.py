"""The per-model report of one meter over a period: answers by severity, status counts
(not-applicable apart from real degradation), and latency per module and end to end."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from gridtwin.answers import answer_class
from gridtwin.history.repository import Repository
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import assessment_pb2

SEVERITIES = ("NORMAL", "ADVISORY", "WARNING", "CRITICAL")
STATUSES = ("OK", "DEGRADED", "NOT_APPLICABLE", "UNAVAILABLE", "FAILED")


@dataclass
class ModelRow:
    model: str
    module: str
    versions: list[str]
    statuses: Counter[str]
    severities: Counter[str]  # of answered (OK/DEGRADED) outputs


@dataclass
class ModelReport:
    meter_id: str
    start: datetime
    end: datetime
    assessments: int
    models: list[ModelRow]
    latency_ms: dict[str, tuple[float, float, float]]  # stage → (p50, p95, max)


def build_model_report(repo: Repository, meter_id: str, start: datetime, end: datetime) -> ModelReport:
    blobs = repo.assessment_blobs(meter_id, int(start.timestamp() * 1e6), int(end.timestamp() * 1e6))
    statuses = {m: Counter[str]() for m in MODEL_MODULE}
    severities = {m: Counter[str]() for m in MODEL_MODULE}
    versions: dict[str, set[str]] = {m: set() for m in MODEL_MODULE}
    stages: dict[str, list[float]] = {}
    for _, blob in blobs:
        a = assessment_pb2.Assessment.FromString(blob)
        for name in MODEL_MODULE:
            info = getattr(a, name).info
            statuses[name][answer_class(info)] += 1
            if info.status in (assessment_pb2.OK, assessment_pb2.DEGRADED) and info.severity:
                severities[name][assessment_pb2.Severity.Name(info.severity)] += 1
            if info.model_version:
                versions[name].add(info.model_version)
        for timing in a.timings:
            stages.setdefault(timing.stage, []).append(timing.duration_ms)
    latency = {
        stage: (float(np.percentile(v, 50)), float(np.percentile(v, 95)), float(np.max(v)))
        for stage, v in stages.items()
    }
    rows = [
        ModelRow(m, MODEL_MODULE[m], sorted(versions[m]), statuses[m], severities[m]) for m in MODEL_MODULE
    ]
    return ModelReport(meter_id, start, end, len(blobs), rows, latency)


def model_report_csv(report: ModelReport, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["meter_id", "model", "module", "versions", *STATUSES, *SEVERITIES])
        for row in report.models:
            writer.writerow(
                [
                    report.meter_id,
                    row.model,
                    row.module,
                    " ".join(row.versions),
                    *(row.statuses.get(s, 0) for s in STATUSES),
                    *(row.severities.get(s, 0) for s in SEVERITIES),
                ]
            )
        writer.writerow([])
        writer.writerow(["meter_id", "stage", "p50_ms", "p95_ms", "max_ms"])
        for stage, (p50, p95, top) in report.latency_ms.items():
            writer.writerow([report.meter_id, stage, f"{p50:.3f}", f"{p95:.3f}", f"{top:.3f}"])
    return path


def render_model_pdf(report: ModelReport, path: str | Path) -> Path:
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    from gridtwin.reports.pdf import _table

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    styles = getSampleStyleSheet()
    story = [
        Paragraph(f"Model report — meter {report.meter_id}", styles["Heading1"]),
        Paragraph(
            f"{report.start:%Y-%m-%d %H:%M} – {report.end:%Y-%m-%d %H:%M} UTC · {report.assessments} stored "
            "assessments. NOT_APPLICABLE = the model does not answer for this kind of meter (not a degradation).",
            styles["BodyText"],
        ),
        Spacer(1, 6),
    ]
    data: list[list[object]] = [["model", "module", "version(s)", *STATUSES, *SEVERITIES]]
    for row in report.models:
        data.append(
            [
                row.model,
                row.module,
                ", ".join(v[:12] for v in row.versions) or "–",
                *(row.statuses.get(s, 0) for s in STATUSES),
                *(row.severities.get(s, 0) for s in SEVERITIES),
            ]
        )
    story += [_table(data), Spacer(1, 8), Paragraph("Latency per stage (ms)", styles["Heading2"])]
    lat = [["stage", "p50", "p95", "max"]] + [
        [s, f"{a:.2f}", f"{b:.2f}", f"{c:.2f}"] for s, (a, b, c) in report.latency_ms.items()
    ]
    story.append(_table(lat))
    SimpleDocTemplate(str(path), pagesize=landscape(A4), leftMargin=1.2 * cm, rightMargin=1.2 * cm).build(
        story
    )
    return path
