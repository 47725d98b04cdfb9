"""Reports through the running mesh: simulated readings → gateway → assessment stream →
history service → database, then the gateway's `Report` (gRPC) and the web service's
`/v1/reports/*` (REST) answer the same report, rendered by the history service."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pandas as pd
import pytest
from google.rpc import code_pb2
from grpc_status import rpc_status

from gridsim.live import iter_live_readings
from gridtwin.core.errors import field_violations
from gridtwin.history.repository import Repository
from gridtwin.mesh import Mesh
from gridtwin.physics.en50160 import frequency_within_normal_band
from gridtwin.records import reading_from_record
from gridtwin.registry import MODEL_MODULE
from gridtwin.v1 import gateway_pb2, gateway_pb2_grpc, reading_pb2

pytestmark = [pytest.mark.mesh, pytest.mark.slow]

METER = "report-F1"
HOURS = 4


@pytest.fixture(scope="module")
def stored(web_mesh: Mesh) -> dict[str, object]:
    """Four simulated hours of one feeder meter (1-min readings), assessed and stored."""
    start = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(hours=HOURS + 2)
    records = [
        r
        for r in iter_live_readings(meters=3, speed=0, step_s=60, start=start, max_steps=HOURS * 60)
        if r["meter_id"] == "dorf-F1"
    ]
    readings = [reading_from_record({**r, "meter_id": METER}) for r in records]
    with grpc.insecure_channel(web_mesh.address("gateway")) as channel:
        gateway = gateway_pb2_grpc.GridTwinStub(channel)
        answers = gateway.AssessBatch(reading_pb2.ReadingBatch(readings=readings), timeout=120).assessments
    ok = [r for r, a in zip(readings, answers, strict=True) if a.status.code == code_pb2.OK]
    assert len(ok) == len(readings) == HOURS * 60
    repo = Repository(web_mesh.database_url)
    try:
        # A correctness wait (the consumer stores asynchronously), not a speed check.
        deadline = time.monotonic() + 120
        while repo.count(METER) < len(ok) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert repo.count(METER) == len(ok)
    finally:
        repo.dispose()
    t0 = readings[0].timestamp.ToDatetime()
    return {
        "readings": ok,
        "from": pd.Timestamp(t0, tz="UTC").floor("h"),
        "to": pd.Timestamp(t0, tz="UTC").floor("h") + pd.Timedelta(hours=HOURS + 1),
    }


def _request(stored: dict[str, object], **kw: object) -> gateway_pb2.ReportRequest:
    request = gateway_pb2.ReportRequest(meter_id=METER, **kw)  # type: ignore[arg-type]
    request.start.FromDatetime(stored["from"].to_pydatetime())  # type: ignore[attr-defined]
    request.end.FromDatetime(stored["to"].to_pydatetime())  # type: ignore[attr-defined]
    return request


@pytest.fixture(scope="module")
def gateway(web_mesh: Mesh):  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(web_mesh.address("gateway")) as channel:
        yield gateway_pb2_grpc.GridTwinStub(channel)


def _criteria(text: str) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    return {r["item"]: r for r in rows if r["section"].startswith("criterion")}


def test_en50160_csv_over_grpc_holds_the_criteria_computed_from_the_readings(gateway, stored):
    report = gateway.Report(_request(stored, kind="en50160", format="csv"), timeout=120)
    assert report.media_type == "text/csv" and report.filename.endswith(".csv")
    criteria = _criteria(report.content.decode())
    assert set(criteria) == {
        "voltage_95",
        "voltage_always",
        "frequency_normal",
        "frequency_always",
        "unbalance",
        "thd",
    }
    assert all(r["meter_id"] == METER for r in criteria.values())
    # EN 50160 4.2.1 recomputed here from the readings that were sent: share within ±1 % of fn.
    f = np.array([r.frequency for r in stored["readings"]])  # type: ignore[attr-defined]
    fn = np.array([r.nominal_frequency for r in stored["readings"]])  # type: ignore[attr-defined]
    expected = 100.0 * frequency_within_normal_band(f, fn, False).mean()
    assert float(criteria["frequency_normal"]["value"]) == pytest.approx(expected, abs=1e-3)
    assert criteria["voltage_95"]["value"] != ""  # measured from the stored 10-min aggregates


def test_en50160_pdf_over_grpc_renders(gateway, stored, tmp_path: Path):
    report = gateway.Report(_request(stored, kind="en50160"), timeout=120)  # format defaults to pdf
    assert report.media_type == "application/pdf" and report.content.startswith(b"%PDF")
    pdf = tmp_path / report.filename
    pdf.write_bytes(report.content)
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: PDF received but not rasterised")
    subprocess.run([pdftoppm, "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    assert pages
    import matplotlib.image as mpimg

    first = mpimg.imread(pages[0])
    assert first.shape[0] > 300 and first.std() > 0.05  # a rendered page, not a blank one


def test_models_csv_over_grpc_counts_every_stored_assessment(gateway, stored):
    report = gateway.Report(_request(stored, kind="models", format="csv"), timeout=120)
    table = report.content.decode().split("\r\n\r\n")[0]
    rows = list(csv.DictReader(io.StringIO(table)))
    assert {r["model"] for r in rows} == set(MODEL_MODULE)
    statuses = ("OK", "DEGRADED", "NOT_APPLICABLE", "UNAVAILABLE", "FAILED")
    n = len(stored["readings"])  # type: ignore[arg-type]
    assert all(sum(int(r[s]) for s in statuses) == n for r in rows)


def _bad(call, request) -> tuple[grpc.StatusCode, set[str]]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    status = rpc_status.from_call(info.value)
    return info.value.code(), {v.field for v in field_violations(status)} if status else set()


def test_bad_report_requests_name_the_field_and_no_data_is_not_found(gateway, stored):
    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert _bad(gateway.Report, gateway_pb2.ReportRequest()) == (
        invalid,
        {"kind", "meter_id", "start", "end"},
    )
    assert _bad(gateway.Report, _request(stored, kind="weekly", format="docx")) == (
        invalid,
        {"kind", "format"},
    )
    backwards = _request(stored, kind="en50160")
    start = gateway_pb2.ReportRequest(start=backwards.start).start
    backwards.start.CopyFrom(backwards.end)
    backwards.end.CopyFrom(start)
    assert _bad(gateway.Report, backwards) == (invalid, {"end"})
    too_long = _request(stored, kind="en50160")
    too_long.end.seconds = too_long.start.seconds + 367 * 86_400
    assert _bad(gateway.Report, too_long) == (invalid, {"end"})
    unknown = _request(stored, kind="en50160")
    unknown.meter_id = "no-such-meter"
    assert _bad(gateway.Report, unknown)[0] == grpc.StatusCode.NOT_FOUND
    empty = _request(stored, kind="models")
    empty.end.seconds = empty.start.seconds + 60  # an hour before the first reading: nothing stored
    empty.start.seconds -= 3600
    empty.end.seconds -= 3600
    assert _bad(gateway.Report, empty)[0] == grpc.StatusCode.NOT_FOUND


def test_rest_routes_serve_the_gateways_report(web_url, gateway, stored):
    params = {"meter": METER, "from": stored["from"].isoformat(), "to": stored["to"].isoformat()}  # type: ignore[attr-defined]
    with httpx.Client(base_url=web_url, timeout=120) as client:
        reply = client.get("/v1/reports/en50160", params={**params, "format": "csv"})
        assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
        assert "attachment" in reply.headers["content-disposition"]
        grpc_csv = gateway.Report(_request(stored, kind="en50160", format="csv"), timeout=120).content
        assert reply.content == grpc_csv  # the same report, rendered once by the history service
        pdf = client.get("/v1/reports/en50160", params=params)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        models = client.get("/v1/reports/models", params={**params, "format": "csv"})
        assert models.status_code == 200 and "NOT_APPLICABLE" in models.text
        backwards = client.get(
            "/v1/reports/en50160", params={**params, "from": params["to"], "to": params["from"]}
        )
        assert backwards.status_code == 400
        assert [v["field"] for v in backwards.json()["fieldViolations"]] == ["to"]
        missing = client.get("/v1/reports/models", params={**params, "meter": "no-such-meter"})
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
