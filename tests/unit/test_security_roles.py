"""Who may call what at the gateway, and the bearer metadata."""

from __future__ import annotations

import grpc
import pytest

from gridtwin.security.auth import AuthError, authorize, bearer_token
from gridtwin.security.roles import GATEWAY, RPC_ROLES, Principal, Role, required_role
from gridtwin.v1 import gateway_pb2


def test_every_public_rpc_has_a_role():
    methods = {GATEWAY + m.name for m in gateway_pb2.DESCRIPTOR.services_by_name["GridTwin"].methods}
    assert methods == set(RPC_ROLES), "classify new GridTwin RPCs in gridtwin/security/roles.py"


def test_roles_are_cumulative():
    allowed = {
        role: {m.rsplit("/", 1)[1] for m in RPC_ROLES if Principal("x", role).may(required_role(m))}
        for role in Role
    }
    assert allowed[Role.VIEWER] == {
        "ListModels",
        "ModelHealth",
        "ListMeters",
        "History",
        "Subscribe",
        "Report",
    }
    assert allowed[Role.ANALYST] == allowed[Role.VIEWER] | {"Assess", "AssessBatch", "AssessStream"}
    assert allowed[Role.VIEWER] < allowed[Role.ANALYST] <= allowed[Role.OPERATOR] <= allowed[Role.ADMIN]


def test_report_is_a_viewer_call_limited_to_the_tokens_meters():
    from gridtwin.security.auth import SCOPE_RULES, check_meters

    authorize(Principal("v", Role.VIEWER), GATEWAY + "Report")  # no error: viewers may
    rule = SCOPE_RULES[GATEWAY + "Report"]
    scoped = Principal("v", Role.VIEWER, meters=("feeder-7-*",))
    check_meters(scoped, rule.request_meters(gateway_pb2.ReportRequest(meter_id="feeder-7-m1")))
    with pytest.raises(AuthError) as err:
        check_meters(scoped, rule.request_meters(gateway_pb2.ReportRequest(meter_id="feeder-8-m1")))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "feeder-8-m1" in err.value.reason


def test_unclassified_rpc_needs_admin():
    assert required_role(GATEWAY + "RetireModel") == Role.ADMIN
    with pytest.raises(AuthError) as err:
        authorize(Principal("op", Role.OPERATOR), GATEWAY + "RetireModel")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "needs admin" in err.value.reason


def test_bearer_metadata():
    assert bearer_token([("authorization", "Bearer abc.def.ghi")]) == "abc.def.ghi"
    assert bearer_token([("Authorization", "bearer  abc ")]) == "abc"
    for metadata in ([], [("authorization", "Basic dXNlcg==")], [("authorization", "Bearer ")]):
        with pytest.raises(AuthError) as err:
            bearer_token(metadata)
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_downstream_failures_reach_clients_without_transport_details():
    from gridtwin.core.errors import downstream_detail

    leak = "failed to connect to all addresses; last error: ipv4:10.1.2.3:50054: Connection refused"
    assert downstream_detail("monitoring", grpc.StatusCode.UNAVAILABLE, leak) == "monitoring: UNAVAILABLE"
    assert downstream_detail("ingest", grpc.StatusCode.INTERNAL, "Traceback ...") == "ingest: INTERNAL"
    kept = downstream_detail("ingest", grpc.StatusCode.INVALID_ARGUMENT, "readings: 20000 items exceed 10000")
    assert kept.endswith("exceed 10000")
