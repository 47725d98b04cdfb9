"""Dashboard timing on this machine: first contentful paint of `/` and the time from a
reading sent to the gateway to its alarm row in the page (`python -m bench.dashboard`).

Starts the mesh with the web service (registry at $GRIDTWIN_REGISTRY or ./registry), streams
the simulated feeder, drives Debian's chromium with Playwright, and writes
var/bench/dashboard.json. Goals: first paint ≤ 1 s on localhost; an update within 1 s of a
reading.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

import grpc

from cli.dashboard_demo import FeederThread, sag_reading
from gridtwin.mesh import ROOT, Mesh, delete_redis_prefix
from gridtwin.registry import registry_dir
from gridtwin.v1 import gateway_pb2_grpc
from gridtwin.web.browser import launch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loads", type=int, default=5, help="page loads for the first-paint figure")
    parser.add_argument("--sags", type=int, default=20, help="injected sags for the update figure")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    mesh = Mesh(
        redis_url=args.redis_url,
        redis_prefix=f"bench-{uuid.uuid4().hex[:8]}:",
        registry=registry_dir().resolve(),
    )
    mesh.start()
    feeder = None
    try:
        mesh.wait_healthy(timeout=180)
        feeder = FeederThread(mesh.address("gateway"), meters=12, pace_s=0.2)
        feeder.start()
        base = f"http://{mesh.address('web')}"
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page()
            paints = []
            for _ in range(args.loads):
                page.goto(base + "/")
                page.wait_for_load_state("load")
                paints.append(
                    page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
                )
            page.wait_for_selector(".meter[data-meter]", timeout=60_000)
            page.goto(base + "/#/alarms")
            page.wait_for_selector("#alarms")
            updates, rpcs = [], []
            with grpc.insecure_channel(mesh.address("gateway")) as channel:
                stub = gateway_pb2_grpc.GridTwinStub(channel)
                for i in range(args.sags):
                    meter = f"bench-sag-{i}"
                    started = time.perf_counter()
                    stub.Assess(sag_reading(meter), timeout=10)
                    rpcs.append((time.perf_counter() - started) * 1e3)
                    page.wait_for_selector(f'#alarms tr[data-meter="{meter}"]', timeout=10_000)
                    updates.append((time.perf_counter() - started) * 1e3)
            browser.close()
        result = {
            "first_contentful_paint_ms": {
                "first": paints[0],
                "median": statistics.median(paints),
                "all": paints,
            },
            "reading_to_alarm_row_ms": {
                "median": statistics.median(updates),
                "max": max(updates),
                "n": len(updates),
            },
            "assess_rpc_ms": {"median": statistics.median(rpcs), "max": max(rpcs)},
            "feeder_readings_sent": feeder.sent,
        }
        out = ROOT / "var" / "bench" / "dashboard.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0
    finally:
        if feeder is not None:
            feeder.stop()
        mesh.stop()
        delete_redis_prefix(args.redis_url, mesh.redis_prefix)


if __name__ == "__main__":
    raise SystemExit(main())
