"""Headless Chromium for the dashboard's browser test and screenshots: Debian's `chromium`
(installed by `make chromium`) driven by Playwright, no browser download."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("GRIDTWIN_CHROMIUM", "/usr/bin/chromium")


def chromium_available() -> bool:
    return Path(CHROMIUM).exists()


def launch(playwright: Any) -> Any:
    """A headless Chromium browser (no sandbox: CI containers run as root)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    )
