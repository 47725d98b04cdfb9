"""PDF of the EN 50160 report: verdicts, the 10-min voltage distribution against the limits,
the time series with the bands, the dip/swell tables and the event list (matplotlib figures
in a reportlab document)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from reportlab.lib import colors  # noqa: E402
from reportlab.lib.pagesizes import A4  # noqa: E402
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet  # noqa: E402
from reportlab.lib.units import cm  # noqa: E402
from reportlab.platypus import Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # noqa: E402

from gridtwin.reports import en50160 as en  # noqa: E402
from gridtwin.reports.compliance import En50160Report  # noqa: E402

VERDICT_COLOURS = {"pass": colors.HexColor("#1b7f3b"), "fail": colors.HexColor("#b3261e")}
PHASE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")
MAX_EVENTS = 60


def _figure_image(fig: plt.Figure, width_cm: float = 17.0) -> Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    w, h = fig.get_size_inches()
    return Image(buf, width=width_cm * cm, height=width_cm * cm * h / w)


def distribution_figure(report: En50160Report) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    un = report.nominal_voltage_v or 1.0
    v = report.ten_min_v
    if v.size:
        pu = v / un * 100
        bins = np.linspace(min(80.0, np.nanmin(pu) - 1), max(115.0, np.nanmax(pu) + 1), 70)
        for p in range(3):
            ax.hist(pu[:, p], bins=bins, histtype="step", color=PHASE_COLOURS[p], label=f"phase {'abc'[p]}")
    for x, style, label in ((90, "--", "−10 %"), (110, "--", "+10 %"), (85, ":", "−15 %")):
        ax.axvline(x, color="#b3261e", linestyle=style, linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, label, color="#b3261e", ha="center", va="top", fontsize=7)
    ax.set_xlabel(f"10-min RMS voltage, % of Un ({un:g} V)")
    ax.set_ylabel("10-min values")
    ax.set_title("Distribution of the 10-min voltages against the EN 50160 limits", fontsize=10)
    ax.legend(fontsize=7)
    return fig


def series_figure(report: En50160Report) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    un = report.nominal_voltage_v or 1.0
    times = [datetime.fromtimestamp(t, tz=UTC) for t in report.ten_min_s]
    ax.axhspan(0.90 * un, 1.10 * un, color="#1b7f3b", alpha=0.08, label="Un ± 10 %")
    ax.axhline(0.85 * un, color="#b3261e", linestyle=":", linewidth=1, label="Un − 15 %")
    ax.axhline(1.10 * un, color="#b3261e", linestyle="--", linewidth=1)
    ax.axhline(0.90 * un, color="#b3261e", linestyle="--", linewidth=1)
    for p in range(3):
        if report.ten_min_v.size:
            ax.plot(
                times,
                report.ten_min_v[:, p],
                color=PHASE_COLOURS[p],
                linewidth=0.7,
                label=f"phase {'abc'[p]}",
            )
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    ax.set_ylabel("10-min RMS voltage, V")
    ax.set_title("10-min voltages over the period with the EN 50160 bands", fontsize=10)
    ax.legend(fontsize=7, ncol=5, loc="lower left")
    return fig


def _table(data: list[list[object]], widths: list[float] | None = None) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _fmt(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _band(lo: float, hi: float, unit: str) -> str:
    return f"> {lo:g} {unit}" if hi == float("inf") else f"{lo:g}–{hi:g} {unit}"


def _story(report: En50160Report, styles) -> list:  # type: ignore[no-untyped-def]
    h1, h2, body = styles["Heading1"], styles["Heading2"], styles["BodyText"]
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9)
    story: list = [
        Paragraph(f"EN 50160 compliance — meter {report.meter_id}", h1),
        Paragraph(
            f"Period {report.start:%Y-%m-%d %H:%M} – {report.end:%Y-%m-%d %H:%M} UTC · "
            f"Un = {report.nominal_voltage_v or '?'} V, fn = {report.nominal_frequency_hz or '?'} Hz · "
            f"{'islanded' if report.islanded else 'interconnected'} system · "
            f"{len(report.rows)} readings, {len(report.ten_min_s)} 10-min values · "
            f"overall verdict: <b>{report.verdict.upper()}</b>",
            body,
        ),
        Spacer(1, 6),
    ]
    data: list[list[object]] = [["clause", "criterion", "requirement", "measured", "verdict"]]
    for c in report.criteria:
        measured = "–" if c.measured_pct is None else f"{c.measured_pct:.2f} %"
        data.append(
            [
                c.clause,
                Paragraph(c.title, small),
                Paragraph(c.requirement, small),
                measured,
                c.verdict.upper(),
            ]
        )
    table = _table(data, [1.3 * cm, 4.2 * cm, 7.3 * cm, 2 * cm, 2.3 * cm])
    for i, c in enumerate(report.criteria, start=1):
        if c.verdict in VERDICT_COLOURS:
            table.setStyle(TableStyle([("TEXTCOLOR", (4, i), (4, i), VERDICT_COLOURS[c.verdict])]))
    story += [
        table,
        Spacer(1, 8),
        _figure_image(distribution_figure(report)),
        _figure_image(series_figure(report)),
    ]

    if report.weeks:
        story.append(Paragraph("Weekly statistics (% of the week's 10-min values within the limit)", h2))
        rows = [["week from", "10-min values", "V within ±10 % (worst phase)", "VUF ≤ 2 %", "THD ≤ 8 %"]]
        for w in report.weeks:
            rows.append(
                [
                    _fmt(w.start_s),
                    w.values,
                    f"{w.voltage_within_10pct:.2f}" if w.voltage_within_10pct is not None else "–",
                    f"{w.vuf_within_pct:.2f}" if w.vuf_within_pct is not None else "not measured",
                    f"{w.thd_within_pct:.2f}" if w.thd_within_pct is not None else "not measured",
                ]
            )
        story.append(_table(rows))

    story.append(Paragraph("Voltage dips (residual voltage × duration)", h2))
    head = ["u, % Un", *(_band(a, b, "s") for a, b in en.DIP_COLUMNS_S)]
    rows = [head] + [
        [_band(lo, hi, "%"), *map(int, report.dips[i])] for i, (lo, hi) in enumerate(en.DIP_ROWS_PCT)
    ]
    story.append(_table(rows))
    story.append(Paragraph("Voltage swells (swell voltage × duration)", h2))
    head = ["u, % Un", *(_band(a, b, "s") for a, b in en.SWELL_COLUMNS_S)]
    rows = [head] + [
        [_band(lo, hi, "%"), *map(int, report.swells[i])] for i, (lo, hi) in enumerate(en.SWELL_ROWS_PCT)
    ]
    story.append(_table(rows))
    interval = report.reading_interval_s
    story.append(
        Paragraph(
            "Events are found in the meter's RMS readings"
            + (f" (every {interval:g} s)" if interval else "")
            + ": a duration is known only to that resolution, so events shorter than one interval are "
            "counted in the interval's column; the short-duration columns need a class A instrument "
            "(IEC 61000-4-30 half-cycle RMS). The last column (> 60 s) lies beyond the standard's table.",
            body,
        )
    )
    if report.events:
        story.append(Paragraph(f"Events ({len(report.events)}; first {MAX_EVENTS} listed)", h2))
        rows = [["start (UTC)", "kind", "duration, s", "extreme, % Un", "readings"]]
        for e in report.events[:MAX_EVENTS]:
            rows.append([_fmt(e.start_s), e.kind, f"{e.duration_s:g}", f"{e.extreme_pct:.1f}", e.readings])
        story.append(_table(rows))
    return story


def render_pdf(reports: En50160Report | Sequence[En50160Report], path: str | Path) -> Path:
    """Write the report(s) — one section per meter — to `path` (PDF)."""
    reports = [reports] if isinstance(reports, En50160Report) else list(reports)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    styles = getSampleStyleSheet()
    story: list = []
    for k, report in enumerate(reports):
        if k:
            story.append(PageBreak())
        story += _story(report, styles)
    if not story:
        story.append(Paragraph("No meters with history in this period.", styles["BodyText"]))
    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title="EN 50160 compliance report",
        author="gridtwin",
    )
    doc.build(story)
    return path
