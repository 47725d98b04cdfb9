"""The evaluation as Markdown: one table of every model × cadence × metric, a summary, and
voltage_anomaly's detail section (kept in docs/models/voltage_anomaly_heldout.md)."""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from training.serving_eval.verdict import MET, NOT_ASSESSABLE, NOT_MET

INTRO = (
    "Measured by `python -m training.evaluate_serving` through the running mesh (gateway `AssessBatch` → "
    "ingest → features with its Redis state → the four modules with theirs) on the held-out world "
    "(training/heldout: its own load, voltage, frequency and noise model, 230/220/240/120/277 V, 50 and 60 Hz, "
    "class 0.5/1 meters, 0.1 V resolution; 15-min values are interval averages; an asset register with each "
    "meter's rated current is written into the mesh's Redis). Calls of up to 250 readings and at most one 15-min interval; module deadlines "
    "raised to 10 s (quality, not latency, is measured here). A figure is **met** only when its goal holds AND "
    "it beats its naive baseline strictly, with one marked exception: voltage_anomaly's IEEE 1159 rows, whose "
    "baseline (the EN 50160 ± 10 % rule) is the definition of those events and can only be tied; there the goal "
    "decides, and the detector's gain over the rule is judged strictly on the neutral-shift and every-anomaly "
    "rows. **not assessable** says why the world cannot test it."
)


def fmt(x: Any) -> str:
    """A number for a table cell ("–" when there is none)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _verdict(v: str) -> str:
    return {MET: "met", NOT_MET: "**not met**", NOT_ASSESSABLE: "not assessable"}[v]


def table(results: dict[str, Any]) -> list[str]:
    """Every row, grouped by model then cadence."""
    rows = [r for res in results.values() for r in res["rows"]]
    order = {c: k for k, c in enumerate(results)}
    rows.sort(key=lambda r: (r["model"], order[r["cadence"]]))
    lines = [
        "| model | cadence | metric | served | baseline | goal | verdict | n | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = f"{fmt(r['baseline'])} ({r['baseline_name']})" if r["baseline_name"] else fmt(r["baseline"])
        lines.append(
            f"| {r['model']} | {r['cadence']} | {r['metric']} | {fmt(r['served'])} | {base} | {r['goal'] or '–'} "
            f"| {_verdict(r['verdict'])} | {r['n'] or '–'} | {r['note']} |"
        )
    return lines


def summary(results: dict[str, Any]) -> list[str]:
    """Counts of verdicts and the list of misses (model, cadence, metric, figure vs baseline)."""
    rows = [r for res in results.values() for r in res["rows"]]
    counts = Counter(r["verdict"] for r in rows)
    lines = [
        f"{len(rows)} figures: {counts[MET]} met, {counts[NOT_MET]} not met, {counts[NOT_ASSESSABLE]} not assessable.",
        "",
        "Misses:",
        "",
    ]
    misses = [r for r in rows if r["verdict"] == NOT_MET]
    lines += [
        f"- {r['model']} at {r['cadence']}: {r['metric']} {fmt(r['served'])} vs baseline {fmt(r['baseline'])} "
        f"({r['baseline_name']}); goal {r['goal']}"
        for r in misses
    ] or ["- none"]
    return lines


def markdown(results: dict[str, Any], versions: dict[str, str]) -> str:
    """The whole held-out report."""
    streams = "; ".join(
        f"{c}: {res['readings']} readings of {res['meters']} meters in calls of {res.get('batch', 250)}"
        for c, res in results.items()
    )
    lines = [
        "# Held-out world through the serving path",
        "",
        INTRO,
        "",
        f"Streams: {streams}. Model versions: "
        + ", ".join(f"{m} `{v}`" for m, v in sorted(versions.items()))
        + ".",
        "",
        "## Summary",
        "",
        *summary(results),
        "",
        "## Every figure",
        "",
        *table(results),
        "",
        "## voltage_anomaly in detail",
        "",
        voltage_anomaly_section(results),
    ]
    return "\n".join(lines) + "\n"


def _pct(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{100 * x:.2f} %"


def voltage_anomaly_section(results: dict[str, Any]) -> str:
    """voltage_anomaly's detail figures per cadence (events, frozen sensor, baselines formed)."""
    lines = [
        "| cadence | readings (normal / IEEE 1159 event) | false alarms | baseline | IEEE 1159 event recall | "
        "baseline | reading F1 | baseline | neutral shift: events / readings flagged (baseline) | frozen "
        "recognised as frozen (flagged as anomaly) | normal readings judged with a baseline | missed IEEE 1159 "
        "events |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, res in results.items():
        r = res["voltage_anomaly"]
        m, b = r["model"], r["baseline"]
        missed = ", ".join(f"{e['label']} ({e['readings']} readings)" for e in r["missed_events"]) or "none"
        lines.append(
            f"| {name} | {r['normal_readings']} / {r['event_readings']} | {_pct(m['false_alarm_rate'])} "
            f"({m['false_alarms']}) | {_pct(b['false_alarm_rate'])} | {m['events_detected']}/{m['events']} | "
            f"{_pct(b['event_recall'])} | {m['f1']:.3f} | {b['f1']:.3f} | "
            f"{_pct(m['within_band_event_recall'])} / {_pct(m['within_band_reading_recall'])} "
            f"({_pct(b['within_band_event_recall'])} / {_pct(b['within_band_reading_recall'])}) | "
            f"{_pct(r['frozen_recognised'])} ({_pct(r['frozen_flagged_as_anomaly'])}) | "
            f"{_pct(r['normal_with_baseline'])} | {missed} |"
        )
    lines += [
        "",
        "Baseline: the EN 50160 U_n ± 10 % rule alone. The world's IEEE 1159 events lie beyond that band, so the "
        "rule finds them all without false alarms: there the detector can at best tie it, and its goals decide; its "
        "gain over the rule is on the neutral shift inside the band and on every labelled anomaly. The first readings of "
        "each meter have no baseline (10 min and 5 readings inside the band) and are judged by the standards "
        "alone; 15-min readings have no 3-s or 10-min window (missing, not zero). Partly covered 15-min intervals "
        "at an event's edges are left out of both counts.",
    ]
    return "\n".join(lines) + "\n"


def voltage_anomaly_file(results: dict[str, Any], version: str) -> str:
    """docs/models/voltage_anomaly_heldout.md (embedded in voltage_anomaly.md by its report)."""
    return (
        f"Model version `{version}`, measured by `python -m training.evaluate_serving` through the running mesh "
        "on the held-out world (how, and every other model: [heldout.md](heldout.md)). Goals: false alarms "
        "≤ 1 % of normal readings, IEEE 1159 event recall ≥ 95 %, reading-level F1 ≥ 0.8.\n\n"
        + voltage_anomaly_section(results)
    )


def publish(text: str, va_section: str, out: Path) -> None:
    """heldout.md and voltage_anomaly_heldout.md into ``out``; voltage_anomaly.md's section too."""
    (out / "heldout.md").write_text(text)
    (out / "voltage_anomaly_heldout.md").write_text(va_section)
    report = out / "voltage_anomaly.md"
    if report.exists():
        body = report.read_text()
        head = "## Held-out world through the serving path (the headline figures)\n"
        section = "See [heldout.md](heldout.md) for every model.\n\n" + va_section
        pattern = re.compile(re.escape(head) + r".*?(?=\n## |\Z)", re.S)
        if pattern.search(body):
            body = pattern.sub(lambda _: head + "\n" + section, body)
        else:
            body += "\n" + head + "\n" + section
        report.write_text(body)


README_START, README_END = "<!-- heldout:start -->", "<!-- heldout:end -->"
_SHORT = {MET: "met", NOT_MET: "**not met**", NOT_ASSESSABLE: "n/a"}


def compact_table(results: dict[str, Any]) -> list[str]:
    """Per model and metric, one cell per cadence: "served vs baseline (verdict)"."""
    cadences = list(results)
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for c, res in results.items():
        for r in res["rows"]:
            cell = (
                f"{fmt(r['served'])} vs {fmt(r['baseline'])} ({_SHORT[r['verdict']]})"
                if r["served"] is not None and r["baseline"] is not None
                else "n/a"
            )
            cells.setdefault((r["model"], r["metric"]), {})[c] = cell
    lines = [
        "| model | metric (served vs naive baseline) | " + " | ".join(cadences) + " |",
        "|---|---|" + "---|" * len(cadences),
    ]
    for (model, metric), by_c in sorted(cells.items()):
        lines.append(f"| {model} | {metric} | " + " | ".join(by_c.get(c, "–") for c in cadences) + " |")
    return lines


def readme_section(results: dict[str, Any]) -> str:
    """The README's held-out block: the verdict counts and the compact table (the list of misses
    is in docs/models/heldout.md)."""
    return "\n".join([README_START, summary(results)[0], "", *compact_table(results), README_END])


def publish_readme(results: dict[str, Any], readme: Path) -> bool:
    """Replace the README's held-out block (between the markers); False when it has none."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        return False
    head, rest = text.split(README_START, 1)
    tail = rest.split(README_END, 1)[1]
    readme.write_text(head + readme_section(results) + tail)
    return True


#: Where docs/models/README.md takes the block when it has none yet: before its table.
OVERVIEW_TABLE_HEAD = "| module | model | algorithm | version |"


def publish_overview(results: dict[str, Any], overview: Path) -> bool:
    """The same block in the models' overview (docs/models/README.md): replaced between the
    markers, else inserted before the training-side table; False when there is no overview."""
    if not overview.exists():
        return False
    if publish_readme(results, overview):
        return True
    text = overview.read_text()
    at = text.find(OVERVIEW_TABLE_HEAD)
    if at < 0:
        return False
    block = (
        "## Held-out world through the serving path (the headline figures, per cadence)\n\n"
        + readme_section(results)
        + "\n\n## Training side: the simulator's own held-out test block (full profile)\n\n"
    )
    overview.write_text(text[:at] + block + text[at:])
    return True
