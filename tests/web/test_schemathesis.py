"""schemathesis against the served OpenAPI document of the running web service and mesh:
no generated input, valid (positive) or not (negative), gets a 5xx, and every answer
conforms to the document (status code, content type, body schema).

A route whose gateway call a build does not implement answers 501; the history routes are
probed and skipped with that reason rather than counted as passing. The report routes are
not probed: they always run (a 501 is not in their document, so it would fail them).
(schemathesis' own pytest plugin does not run under pytest 9, so each operation is driven
through its Hypothesis strategy here.)
"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.web.openapi import DOCUMENT

pytestmark = [pytest.mark.mesh, pytest.mark.slow]

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 10  # per operation and mode: the whole module runs in well under a minute
# The operations of the committed document (a test checks it equals the served one).
OPERATIONS = [
    (path, method) for path, ops in json.loads(DOCUMENT.read_text())["paths"].items() for method in ops
]
PROBES = {  # a valid request per route that may be missing: 501 = not implemented by this build
    "/v1/history/{meter_id}": "/v1/history/probe",
    "/v1/meters": "/v1/meters",
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
def served_schema(web_url: str):
    return schemathesis.openapi.from_url(web_url + "/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_no_server_errors_and_answers_match_the_document(
    web_url, served_schema, unimplemented, path, method, mode
):
    if path in unimplemented:
        pytest.skip(f"{path}: {unimplemented[path]}")
    operation = served_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,  # nothing written into the work tree
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=web_url, checks=CHECKS, timeout=30)

    try:
        check()
    except Unsatisfiable:
        # e.g. GET /v1/models: its only input is a free-form header, so no request is invalid
        pytest.skip(f"{method.upper()} {path}: no input of this operation can be invalid")
