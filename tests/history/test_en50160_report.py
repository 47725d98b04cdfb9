"""EN 50160 statistics against hand-computed fixtures, and the report's PDF and CSV."""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from gridtwin.history.repository import Repository
from gridtwin.reports import (
    build_en50160,
    build_model_report,
    model_report_csv,
    render_model_pdf,
    render_pdf,
    to_csv,
)
from gridtwin.reports import en50160 as en
from gridtwin.v1 import assessment_pb2
from tests.history.items import T0_S, item

ROOT = Path(__file__).resolve().parents[2]


def test_voltage_95_percent_of_the_week_and_always_band():
    t = T0_S + 600 * np.arange(20)
    v = np.full((20, 3), 230.0)
    v[0, 0] = 200.0  # −13 %: outside ±10 %, inside −15 %  → phase a 19/20 = 95 % within
    crit = {c.key: c for c in en.voltage_criteria(t, v, np.full(20, 230.0), T0_S)}
    assert crit["voltage_95"].measured_pct == pytest.approx(95.0)
    assert crit["voltage_95"].verdict == "pass"
    assert crit["voltage_always"].verdict == "pass"
    v[1, 1] = 254.0  # +10.4 % on phase b: phase b 95 %, still pass (per phase)
    assert {c.key: c for c in en.voltage_criteria(t, v, np.full(20, 230.0), T0_S)}[
        "voltage_95"
    ].verdict == "pass"
    v[2, 0] = 190.0  # −17.4 %: phase a 18/20 = 90 % (fail) and outside the always band
    crit = {c.key: c for c in en.voltage_criteria(t, v, np.full(20, 230.0), T0_S)}
    assert crit["voltage_95"].measured_pct == pytest.approx(90.0) and crit["voltage_95"].verdict == "fail"
    assert crit["voltage_always"].verdict == "fail"
    # Interval 1 (254 V > +10 %, the always band's upper edge too) and interval 2 are outside: 18/20.
    assert crit["voltage_always"].measured_pct == pytest.approx(90.0)


def test_each_week_is_judged_on_its_own():
    # Week 1: all within; week 2: 2 of 10 outside (80 %) → the worst week fails.
    t = np.concatenate([T0_S + 600 * np.arange(10), T0_S + en.WEEK_S + 600 * np.arange(10)])
    v = np.full((20, 3), 120.0)  # a 120 V system: nothing assumes 230 V
    v[10:12, 2] = 100.0  # −16.7 %
    crit = {c.key: c for c in en.voltage_criteria(t, v, np.full(20, 120.0), T0_S)}
    assert crit["voltage_95"].measured_pct == pytest.approx(80.0)
    weeks = en.weekly_stats(t, v, np.full(20, 120.0), np.full(20, np.nan), np.full(20, np.nan), T0_S)
    assert [w.voltage_within_10pct for w in weeks] == [pytest.approx(100.0), pytest.approx(80.0)]
    assert [w.values for w in weeks] == [10, 10]


def test_frequency_bands_interconnected_islanded_and_60_hz():
    f = np.full(1000, 50.0)
    f[:4] = 50.6  # outside ±1 % → 99.6 % within: pass
    crit = {c.key: c for c in en.frequency_criteria(f, 50.0)}
    assert (
        crit["frequency_normal"].measured_pct == pytest.approx(99.6)
        and crit["frequency_normal"].verdict == "pass"
    )
    f[4:6] = 49.4  # 6 outside → 99.4 %: fail
    assert {c.key: c for c in en.frequency_criteria(f, 50.0)}["frequency_normal"].verdict == "fail"
    assert {c.key: c for c in en.frequency_criteria(f, 50.0)}["frequency_always"].verdict == "pass"
    f[7] = 46.9  # below 47 Hz (−6 %)
    assert {c.key: c for c in en.frequency_criteria(f, 50.0)}["frequency_always"].verdict == "fail"
    # Islanded: ±2 % for 95 %, ±15 % always — 49.4 and 50.6 are inside ±2 %, 46.9 too (−6.2 %).
    island = {c.key: c for c in en.frequency_criteria(f, 50.0, islanded=True)}
    assert island["frequency_normal"].measured_pct == pytest.approx(99.9)
    assert island["frequency_always"].verdict == "pass"
    sixty = np.array([60.0, 60.55, 59.45, 62.5])  # ±1 % = 59.4–60.6; +4 % = 62.4
    crit = {c.key: c for c in en.frequency_criteria(sixty, 60.0)}
    assert crit["frequency_normal"].measured_pct == pytest.approx(75.0)
    assert crit["frequency_always"].verdict == "fail"


def test_unbalance_and_thd_where_measured():
    t = T0_S + 600 * np.arange(40)
    vuf = np.full(40, 1.0)
    vuf[:2] = 2.5  # 38/40 = 95 % ≤ 2 %: pass
    assert en.unbalance_criterion(t, vuf, T0_S).verdict == "pass"
    vuf[2] = 2.01
    c = en.unbalance_criterion(t, vuf, T0_S)
    assert c.measured_pct == pytest.approx(92.5) and c.verdict == "fail"
    thd = np.full(40, np.nan)
    assert en.thd_criterion(t, thd, T0_S).verdict == "not measured"
    thd[:10] = [1, 2, 3, 9, 4, 5, 6, 7, 8, 8]  # 9 of 10 measured values ≤ 8 % → 90 %
    c = en.thd_criterion(t, thd, T0_S)
    assert c.measured_pct == pytest.approx(90.0) and c.verdict == "fail"


def test_dips_swells_and_interruptions_in_the_standard_tables():
    t = T0_S + 60.0 * np.arange(10)
    vmin = np.array([230, 200, 190, 230, 230, 100, 230, 5, 230, 230], dtype=float)
    vmax = np.array([231, 231, 231, 231, 260, 231, 231, 231, 280, 231], dtype=float)
    events = en.voltage_events(t, vmin, vmax, 230.0, 60.0)
    assert [(e.kind, e.duration_s, round(e.extreme_pct, 1)) for e in events] == [
        ("dip", 120.0, 82.6),  # 200 V and 190 V in a row: one dip, residual = the lower
        ("swell", 60.0, 113.0),
        ("dip", 60.0, 43.5),
        ("interruption", 60.0, 2.2),
        ("swell", 60.0, 121.7),
    ]
    dips = en.dip_table(events)
    assert dips.sum() == 3
    assert dips[0, 5] == 1  # 90 > u ≥ 80 %, > 60 s (beyond the table)
    assert dips[2, 4] == 1  # 70 > u ≥ 40 %, 5 s < t ≤ 60 s
    assert dips[4, 4] == 1  # u < 5 % (interruption), 5 s < t ≤ 60 s
    swells = en.swell_table(events)
    assert swells[1, 2] == 1 and swells[0, 2] == 1 and swells.sum() == 2
    short = [en.VoltageEvent("dip", 0.0, 0.1, 50.0, 1), en.VoltageEvent("dip", 0.0, 0.3, 85.0, 1)]
    table = en.dip_table(short)
    assert table[2, 0] == 1 and table[0, 1] == 1


@pytest.fixture
def week_repo(sqlite_url: str):  # type: ignore[no-untyped-def]
    """One meter, one simulated week at 5-min cadence: a daily voltage swing, 3 sagged readings
    in a row on day 3, VUF around 1 % with one bad hour, no measured THD."""
    repo = Repository(sqlite_url)
    repo.create_schema()
    items = []
    n = 7 * 288
    for k in range(n):
        t = T0_S + 300 * k
        hour = (k % 288) / 12
        v = 230 + 8 * math.sin(2 * math.pi * hour / 24)
        volts = (v, v + 1, v - 1)
        if 3 * 288 + 100 <= k < 3 * 288 + 103:
            volts = (150.0, v, v)
        vuf = 3.0 if 5 * 288 <= k < 5 * 288 + 12 else 1.0
        items.append(item("week-1", t, v=volts, f=50.0 + 0.02 * math.sin(k), vuf=vuf, severity=1))
    for i in range(0, n, 500):
        repo.write(items[i : i + 500])
    yield repo
    repo.dispose()


def test_report_from_the_database_matches_a_hand_computation(week_repo: Repository):
    start = datetime.fromtimestamp(T0_S, tz=UTC)
    report = build_en50160(week_repo, "week-1", start, start + timedelta(days=7))
    assert len(report.ten_min_s) == 7 * 144 and len(report.rows) == 7 * 288
    # The first interval holds k = 0 and 1: RMS of the two phase-a voltages.
    v0, v1 = 230.0, 230 + 8 * math.sin(2 * math.pi * (1 / 12) / 24)
    assert report.ten_min_v[0, 0] == pytest.approx(math.sqrt((v0**2 + v1**2) / 2))
    crit = {c.key: c for c in report.criteria}
    # Sag: readings 100..102 of day 3 → intervals 50 (k=100,101, both 150 V) and 51 (k=102 at 150 V, k=103
    # normal); interval 51's RMS √((150² + v²)/2) ≈ 195 V is also below −10 %: 2 of 1008 intervals.
    assert crit["voltage_95"].measured_pct == pytest.approx(100 * (1008 - 2) / 1008)
    assert crit["voltage_95"].verdict == "pass"
    assert crit["voltage_always"].verdict == "fail"  # 150 V = −34.8 %
    # VUF: 12 readings of 3 % = 6 intervals above 2 % → 1002/1008.
    assert crit["unbalance"].measured_pct == pytest.approx(100 * 1002 / 1008)
    assert crit["thd"].verdict == "not measured"
    assert crit["frequency_normal"].measured_pct == pytest.approx(100.0)
    (dip,) = report.events
    assert (dip.kind, dip.duration_s, dip.extreme_pct) == ("dip", 900.0, pytest.approx(100 * 150 / 230))
    assert report.dips[2, 5] == 1 and report.dips.sum() == 1  # 70 > u ≥ 40 %, > 60 s
    assert report.verdict == "fail"


def test_pdf_renders_and_csv_holds_the_statistics(week_repo: Repository, tmp_path: Path):
    start = datetime.fromtimestamp(T0_S, tz=UTC)
    report = build_en50160(week_repo, "week-1", start, start + timedelta(days=7))
    pdf = render_pdf(report, tmp_path / "en50160.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")
    stats, raw = to_csv(report, tmp_path / "en50160.csv")
    rows = list(csv.DictReader(stats.open()))
    by_item = {r["item"]: r for r in rows if r["section"].startswith("criterion")}
    assert by_item["voltage_always"]["verdict"] == "fail"
    assert float(by_item["unbalance"]["value"]) == pytest.approx(100 * 1002 / 1008, abs=1e-3)
    assert len(list(csv.DictReader(raw.open()))) == 7 * 288
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: PDF written but not rasterised")
    subprocess.run([pdftoppm, "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) >= 2
    import matplotlib.image as mpimg

    first = mpimg.imread(pages[0])
    assert first.shape[0] > 300 and first.std() > 0.05  # a rendered page, not a blank one


def test_model_report_counts_statuses_apart_from_not_applicable(sqlite_url: str, tmp_path: Path):
    repo = Repository(sqlite_url)
    repo.create_schema()
    items = [item("cust-1", T0_S + 60 * k, severity=1) for k in range(4)]
    for k, it in enumerate(items):
        el = it.assessment.energy_loss.info
        el.status, el.model_name = assessment_pb2.DEGRADED, "energy_loss"
        el.detail = (
            "customer meter: feeder state not observable from one connection; ..." if k < 3 else "partial"
        )
        va = it.assessment.voltage_anomaly.info
        va.status, va.severity = (
            assessment_pb2.OK,
            assessment_pb2.WARNING if k == 0 else assessment_pb2.NORMAL,
        )
    repo.write(items)
    start = datetime.fromtimestamp(T0_S, tz=UTC)
    report = build_model_report(repo, "cust-1", start, start + timedelta(hours=1))
    rows = {r.model: r for r in report.models}
    assert report.assessments == 4
    assert rows["energy_loss"].statuses == {"NOT_APPLICABLE": 3, "DEGRADED": 1}
    assert rows["voltage_anomaly"].severities == {"WARNING": 1, "NORMAL": 3}
    assert report.latency_ms["total"][0] == pytest.approx(5.0)
    assert render_model_pdf(report, tmp_path / "models.pdf").read_bytes().startswith(b"%PDF")
    assert "NOT_APPLICABLE" in model_report_csv(report, tmp_path / "models.csv").read_text()
    repo.dispose()


def test_cli_writes_pdf_and_csv(week_repo: Repository, tmp_path: Path):
    out, stats = tmp_path / "r.pdf", tmp_path / "r.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gridtwin.cli",
            "report",
            "en50160",
            "--meter",
            "week",
            "--feeder",
            "--from",
            datetime.fromtimestamp(T0_S, tz=UTC).date().isoformat(),
            "--to",
            (datetime.fromtimestamp(T0_S, tz=UTC) + timedelta(days=7)).isoformat(),
            "--out",
            str(out),
            "--csv",
            str(stats),
            "--database-url",
            week_repo.url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "week-1: 2016 readings, 1008 10-min values: fail" in result.stdout
    assert out.read_bytes().startswith(b"%PDF") and stats.exists()
    assert (tmp_path / "r.assessments.csv").exists()
