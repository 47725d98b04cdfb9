"""Entry point: uvicorn on WEB_PORT (default 8080), talking to the gateway at GATEWAY_ADDR.

HTTPS when GRIDTWIN_TLS_CERT/KEY are set (the web service is public: no client certificate).
"""

from __future__ import annotations

import uvicorn

from gridtwin.core.config import service_port, settings
from gridtwin.core.logs import setup_logging
from gridtwin.security.tls import uvicorn_ssl_options
from services.web.app import create_app


def main() -> None:
    setup_logging("web", settings().log_level)
    uvicorn.run(
        create_app(),
        host=settings().web_host,
        port=service_port("web"),
        log_config=None,  # JSON logs from gridtwin.core.logs
        ws_ping_interval=20,
        timeout_graceful_shutdown=5,
        **uvicorn_ssl_options(),
    )
