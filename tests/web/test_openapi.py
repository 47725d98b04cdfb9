"""The OpenAPI document: served at /openapi.json, committed at docs/openapi.json, precise."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from services.web.app import create_app
from services.web.openapi import DOCUMENT


def test_served_document_equals_the_committed_one():
    with TestClient(create_app("127.0.0.1:0")) as client:
        served = client.get("/openapi.json").json()
    committed = json.loads(DOCUMENT.read_text())
    assert served == committed, "docs/openapi.json is stale: run `make openapi`"


def test_document_describes_every_route_with_its_errors_and_no_422():
    doc = json.loads(DOCUMENT.read_text())
    assert set(doc["paths"]) == {
        "/v1/assess",
        "/v1/assess/batch",
        "/v1/history/{meter_id}",
        "/v1/meters",
        "/v1/models",
        "/v1/models/health",
        "/v1/reports/en50160",
        "/v1/reports/models",
    }
    for path in doc["paths"].values():
        for operation in path.values():
            assert "400" in operation["responses"] and "422" not in operation["responses"]
    reading = doc["components"]["schemas"]["Reading"]
    assert reading["additionalProperties"] is False
    assert {"meterId", "timestamp", "voltage", "activePower", "nominalVoltage"} <= set(reading["properties"])
    severity = doc["components"]["schemas"]["Assessment"]["properties"]["severity"]["anyOf"][0]
    assert severity["enum"] == ["SEVERITY_UNSPECIFIED", "NORMAL", "ADVISORY", "WARNING", "CRITICAL"]
