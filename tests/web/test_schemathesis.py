"""schemathesis against the served OpenAPI document of the running web service and mesh:
no generated input (valid or not) gets a 5xx, and every answer conforms to the document
(status code, content type, body schema).

Routes whose gateway call is not implemented in this build (History/ListMeters before the
history service lands, the EN 50160 report before its library lands) answer 501; they are
skipped with that reason rather than counted as passing, and run as soon as they answer.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = [pytest.mark.mesh, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PROBES = {  # a valid request per route family: 501 = not implemented by this build
    "/v1/history/{meter_id}": "/v1/history/probe",
    "/v1/meters": "/v1/meters",
    "/v1/reports/en50160": "/v1/reports/en50160?meter=probe&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
}


@pytest.fixture(scope="session")
def unimplemented(web_url: str) -> dict[str, str]:
    out = {}
    for path, probe in PROBES.items():
        reply = httpx.get(web_url + probe, timeout=30)
        if reply.status_code == 501:
            out[path] = reply.json()["message"]
    return out


@pytest.fixture(scope="session")
def web_schema(web_url: str):
    return schemathesis.openapi.from_url(web_url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("web_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_document(case, unimplemented):
    if case.operation.path in unimplemented:
        pytest.skip(f"{case.operation.path}: {unimplemented[case.operation.path]}")
    case.call_and_validate(checks=CHECKS, timeout=30)
