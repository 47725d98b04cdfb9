"""The dashboard in headless Chromium against the real mesh: the page shows the live feed's
meters, and an injected voltage sag appears in the alarms list within 2 s (the page's
functional requirement, waited for with Playwright's timeout)."""

from __future__ import annotations

import time
import uuid

import grpc
import httpx
import pytest

from cli.dashboard_demo import FeederThread, sag_reading
from gridtwin.mesh import Mesh
from gridtwin.v1 import gateway_pb2_grpc
from gridtwin.web.browser import chromium_available, launch

pytestmark = [pytest.mark.mesh, pytest.mark.slow]


@pytest.fixture
def feeder(web_mesh: Mesh):
    thread = FeederThread(web_mesh.address("gateway"), meters=4, pace_s=0.2)
    thread.start()
    yield thread
    thread.stop()
    assert thread.error is None, thread.error


@pytest.fixture
def page():
    if not chromium_available():
        pytest.fail("chromium is not installed: run `make chromium` (Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch(pw)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def _wait_for_a_feeder_meter(page, feeder, timeout_s: float = 60.0) -> set[str]:  # type: ignore[no-untyped-def]
    """The meters the overview shows, once one of the live feed's is among them (the simulator
    needs a few seconds to start; a correctness wait, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    while True:
        shown = set(page.eval_on_selector_all(".meter[data-meter]", "els => els.map(e => e.dataset.meter)"))
        if shown & feeder.meter_ids or time.monotonic() > deadline:
            assert shown & feeder.meter_ids, f"no live meter shown after {timeout_s:.0f} s: {shown}"
            return shown
        time.sleep(0.2)


def test_overview_shows_the_live_meters_and_a_sag_reaches_the_alarms_list(web_mesh, web_url, feeder, page):
    page.goto(web_url + "/")
    page.wait_for_selector("#live-status.on", timeout=10_000)
    shown = _wait_for_a_feeder_meter(page, feeder)
    # besides the live feed's meters the overview lists those with stored history (other
    # tests of the session store some): nothing else
    stored = {m["meterId"] for m in httpx.get(web_url + "/v1/meters", timeout=10).json()["meters"]}
    assert shown <= feeder.meter_ids | stored | {""}, shown

    page.goto(web_url + "/#/alarms")
    page.wait_for_selector("#alarms", timeout=5_000)
    meter_id = f"sag-{uuid.uuid4().hex[:8]}"
    with grpc.insecure_channel(web_mesh.address("gateway")) as channel:
        assessment = gateway_pb2_grpc.GridTwinStub(channel).Assess(sag_reading(meter_id, 0.6), timeout=10)
    assert assessment.voltage_sag.sag_in_progress
    # functional requirement of the page: the alarm is listed within 2 s of the reading
    row = page.wait_for_selector(
        f'#alarms tr[data-meter="{meter_id}"][data-model="voltage_sag"]', timeout=2_000
    )
    assert row is not None
    assert "WARNING" in row.inner_text() or "CRITICAL" in row.inner_text()


def test_meter_page_lists_the_sixteen_model_answers(web_mesh, web_url, feeder, page):
    page.goto(web_url + "/")
    meter_id = sorted(_wait_for_a_feeder_meter(page, feeder) & feeder.meter_ids)[0]
    page.goto(f"{web_url}/#/meter/{meter_id}")
    page.wait_for_selector("#answers tr[data-model]", timeout=10_000)
    models = page.eval_on_selector_all("#answers tr[data-model]", "els => els.map(e => e.dataset.model)")
    assert len(models) == 16 and len(set(models)) == 16


def test_models_page_shows_the_registered_versions(web_url, page):
    page.goto(web_url + "/#/models")
    page.wait_for_selector("#catalog tr[data-model]", timeout=10_000)
    versions = page.eval_on_selector_all(
        "#catalog tr[data-model] td.champion code", "els => els.map(e => e.textContent)"
    )
    assert len(versions) == 16
    assert all(v and v != "–" for v in versions), versions
