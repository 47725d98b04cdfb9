"""`gridtwin assess --csv`: a small CSV with good and bad rows through the running mesh."""

from __future__ import annotations

import time
import uuid

import pandas as pd
import pytest

from gridtwin.cli import main
from gridtwin.mesh import Mesh

pytestmark = pytest.mark.mesh

HEADER = "timestamp,meter_id," + ",".join(
    f"{q}_{p}" for q in ("voltage", "current", "active_power", "reactive_power") for p in "abc"
)
HEADER += ",frequency,nominal_voltage,nominal_frequency"


def _row(ts: str, meter: str, va: float = 230.0, current: str = "10", frequency: str = "50.0") -> str:
    # balanced load at pf 0.95: P = V·I·pf, Q = V·I·sin φ per phase (ingest checks consistency)
    volts = (va, 231.0, 229.0)
    p = [v * 10 * 0.95 for v in volts]
    q = [v * 10 * 0.3122 for v in volts]
    return ",".join(
        [ts, meter, *map(str, volts), current, "10", "10", *map(str, p), *map(str, q), frequency, "230", "50"]
    )


@pytest.fixture
def readings_csv(tmp_path):
    # Meters of this test alone: a second run in the same mesh (the other output format) must
    # not meet the first one's feature state or be answered as its duplicates.
    one, two = (f"csv-{k}-{uuid.uuid4().hex[:6]}" for k in (1, 2))
    base = pd.Timestamp(time.time() - 3600, unit="s", tz="UTC").floor("s")
    stamp = [(base + pd.Timedelta(minutes=i)).isoformat() for i in range(8)]
    local = (base + pd.Timedelta(minutes=8)).tz_convert("Europe/Berlin").isoformat()  # zone kept
    lines = [
        HEADER,
        _row(stamp[0], one),  # line 2
        _row(stamp[1], one),  # line 3
        _row("yesterday-ish", one),  # line 4: bad timestamp
        _row(stamp[2], one, current="ten"),  # line 5: bad number
        _row(stamp[3], one, frequency=""),  # line 6: missing field
        _row(stamp[4], one, va=-5.0),  # line 7: rejected by the mesh (negative RMS)
        _row(local, one),  # line 8: a zoned local timestamp
        _row(stamp[5], two, va=0.6 * 230),  # line 9: 0.6 pu sag on phase a
    ]
    path = tmp_path / "readings.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_assess_csv_reports_bad_rows_and_summarises_alarms(
    web_mesh: Mesh, readings_csv, tmp_path, capsys, suffix
):
    out = tmp_path / f"assessments{suffix}"
    code = main(
        [
            "assess",
            "--csv",
            str(readings_csv),
            "--out",
            str(out),
            "--gateway",
            web_mesh.address("gateway"),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1  # some rows were bad
    errors = captured.err
    assert f"{readings_csv}:4: timestamp: unreadable timestamp" in errors
    assert f"{readings_csv}:5: current_a: not a number: 'ten'" in errors
    assert f"{readings_csv}:6: frequency: missing" in errors
    assert f"{readings_csv}:7: voltage.a:" in errors and "rejected by the mesh" in errors
    assert "8 rows: 4 assessed, 3 unreadable, 1 rejected by the mesh" in captured.out
    assert "voltage_sag" in captured.out.split("alarms")[1]

    frame = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert list(frame["line"]) == [2, 3, 7, 8, 9]  # every sent row comes back, in order
    ok = frame[frame["status"] == "OK"]
    assert list(ok["line"]) == [2, 3, 8, 9]
    sag = ok[ok["line"] == 9].iloc[0]
    assert sag["voltage_sag_severity"] in ("WARNING", "CRITICAL")
    assert {f"{m}_status" for m in ("voltage_anomaly", "optimal_dispatch")} <= set(frame.columns)


def test_missing_columns_are_named(tmp_path, capsys):
    path = tmp_path / "short.csv"
    path.write_text("timestamp,meter_id,voltage_a\n2026-01-01T00:00:00Z,m,230\n")
    assert main(["assess", "--csv", str(path)]) == 2
    assert "missing columns" in capsys.readouterr().err
