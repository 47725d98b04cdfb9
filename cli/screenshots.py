"""`make screenshots`: the dashboard's pictures in docs/ (dashboard-overview.png,
dashboard-meter.png), taken from the real mesh fed by the simulated feeder with one injected
voltage sag. Run on purpose, not by the tests (tests leave the work tree clean).

Uses REDIS_URL (or a private redis-server) and the registry in GRIDTWIN_REGISTRY (default
registry/; `make train` fills it).
"""

from __future__ import annotations

import argparse
import time
import uuid

import grpc
import redis

from cli.dashboard_demo import FeederThread, sag_reading
from gridtwin.mesh import ROOT, LocalRedis, Mesh, delete_redis_prefix
from gridtwin.registry import registry_dir
from gridtwin.v1 import gateway_pb2_grpc
from gridtwin.web.browser import launch


def _redis() -> tuple[str, LocalRedis | None]:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return url, None
    except redis.RedisError:
        local = LocalRedis().start()
        return local.url, local


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument(
        "--warmup-s", type=float, default=30.0, help="seconds of live feed before the pictures"
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    url, local = _redis()
    mesh = Mesh(
        redis_url=url, redis_prefix=f"shots-{uuid.uuid4().hex[:8]}:", registry=registry_dir().resolve()
    )
    mesh.start()
    feeder = None
    try:
        mesh.wait_healthy(timeout=180)
        feeder = FeederThread(mesh.address("gateway"), meters=8)
        feeder.start()
        base = f"http://{mesh.address('web')}"
        with sync_playwright() as pw:
            browser = launch(pw)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(base + "/")
            page.wait_for_selector(".meter[data-meter]", timeout=60_000)
            time.sleep(args.warmup_s)
            with grpc.insecure_channel(mesh.address("gateway")) as channel:
                gateway_pb2_grpc.GridTwinStub(channel).Assess(sag_reading("customer-sag-demo"), timeout=10)
            time.sleep(2)
            page.screenshot(path=f"{args.out}/dashboard-overview.png", full_page=False)
            meter = sorted(feeder.meter_ids)[0]
            page.goto(f"{base}/#/meter/{meter}")
            page.wait_for_selector("#answers table", timeout=30_000)
            time.sleep(5)
            page.screenshot(path=f"{args.out}/dashboard-meter.png", full_page=True)
            browser.close()
        print(f"wrote {args.out}/dashboard-overview.png and dashboard-meter.png")
        return 0
    finally:
        if feeder is not None:
            feeder.stop()
        mesh.stop()
        delete_redis_prefix(url, mesh.redis_prefix)
        if local is not None:
            local.stop()


if __name__ == "__main__":
    raise SystemExit(main())
