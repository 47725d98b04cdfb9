"""Write the web service's OpenAPI document to docs/openapi.json (`make openapi`); a test
checks that the served document equals the committed one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from services.web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.json"


def render() -> str:
    return json.dumps(create_app("127.0.0.1:0").openapi(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    DOCUMENT.write_text(render())
    print(f"wrote {DOCUMENT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
