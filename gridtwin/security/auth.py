"""Bearer-token authentication and per-RPC authorisation at the gateway (grpc.aio interceptor).

`GRIDTWIN_AUTH=on` (on in Kubernetes) makes every public RPC require `authorization: Bearer
<jwt>` metadata; `off` (the default, for one user on localhost) lets everyone in as admin and
says so loudly in the log. Health checks and reflection never need a token.

Answers: no or malformed token, bad signature, expired → `UNAUTHENTICATED` with the reason;
a role below the RPC's (gridtwin.security.roles) or a meter outside the token's scope →
`PERMISSION_DENIED` naming the role or the meters.

Meter scope, per RPC:
- `Assess`, `AssessBatch`: every reading's meter must be in scope, else the whole call is
  denied (authorisation is decided for the request, before any reading is processed).
- `AssessStream`: readings are checked as they arrive; the first out-of-scope reading ends the
  stream with `PERMISSION_DENIED` (answers for the readings before it have been sent).
- `Subscribe`: explicitly requested meters must all be in scope, else `PERMISSION_DENIED`. An
  empty `meter_ids` ("every meter") is allowed and the scope becomes the filter: a scoped
  dashboard asking for "all I can see" is the normal case, and it cannot list meters that do
  not exist yet. Every streamed assessment is checked against the scope regardless.
- `History`, `Report`, `AcknowledgeAlarm`: `meter_id` must be in scope.
- `ListMeters`: the answer is filtered to the scope (a page can hold fewer entries than asked).
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry import trace

from gridtwin.core.config import settings
from gridtwin.core.telemetry import attributes as attr
from gridtwin.security.roles import ANONYMOUS, GATEWAY, OPEN_PREFIXES, Principal, required_role
from gridtwin.security.tokens import Keys, TokenError, verify_token

log = logging.getLogger(__name__)

# The principal of the RPC being served (ANONYMOUS when auth is off).
current_principal: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "current_principal", default=ANONYMOUS
)


class AuthError(Exception):
    def __init__(self, code: grpc.StatusCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def auth_enabled() -> bool:
    """`GRIDTWIN_AUTH`: on/off (also true/false, 1/0); anything else is a start-up error."""
    value = settings().auth.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no", ""):
        return False
    raise ValueError(f"GRIDTWIN_AUTH={value!r}: use on or off")


def bearer_token(metadata: Any) -> str:
    """The token of `authorization: Bearer <token>` metadata; AuthError otherwise."""
    values = [v for k, v in (metadata or ()) if k.lower() == "authorization"]
    if not values:
        raise AuthError(
            grpc.StatusCode.UNAUTHENTICATED,
            "missing bearer token: send metadata 'authorization: Bearer <token>' (gridtwin token create)",
        )
    value = values[0] if isinstance(values[0], str) else values[0].decode(errors="replace")
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(grpc.StatusCode.UNAUTHENTICATED, "authorization metadata must be 'Bearer <token>'")
    return token.strip()


def authenticate(metadata: Any, keys: Keys) -> Principal:
    try:
        return verify_token(bearer_token(metadata), keys)
    except TokenError as exc:
        raise AuthError(grpc.StatusCode.UNAUTHENTICATED, str(exc)) from None


def authorize(principal: Principal, method: str) -> None:
    need = required_role(method)
    if not principal.may(need):
        raise AuthError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"role {principal.role.label} may not call {method.rsplit('/', 1)[-1]}: needs {need.label} or higher",
        )


def scope_denied(principal: Principal, meters: list[str]) -> AuthError:
    shown = ", ".join(meters[:5]) + (f" and {len(meters) - 5} more" if len(meters) > 5 else "")
    return AuthError(
        grpc.StatusCode.PERMISSION_DENIED,
        f"meter(s) outside this token's scope ({', '.join(principal.meters)}): {shown}",
    )


def check_meters(principal: Principal, meter_ids: list[str]) -> None:
    outside = principal.outside_scope(meter_ids)
    if outside:
        raise scope_denied(principal, outside)


@dataclass(frozen=True)
class ScopeRule:
    """How one RPC's request and response relate to meters."""

    request_meters: Callable[[Any], list[str]] | None = None  # checked before the call
    stream_item_meter: Callable[[Any], str] | None = None  # checked per streamed request item
    response_meter: Callable[[Any], str] | None = None  # streamed responses outside scope dropped
    filter_response: Callable[[Principal, Any], Any] | None = None  # unary response narrowed


def _filter_meter_list(principal: Principal, response: Any) -> Any:
    kept = [m for m in response.meters if principal.may_see(m.meter_id)]
    del response.meters[:]
    response.meters.extend(kept)
    return response


SCOPE_RULES: dict[str, ScopeRule] = {
    GATEWAY + "Assess": ScopeRule(request_meters=lambda r: [r.meter_id]),
    GATEWAY + "AssessBatch": ScopeRule(request_meters=lambda r: [x.meter_id for x in r.readings]),
    GATEWAY + "AssessStream": ScopeRule(stream_item_meter=lambda r: r.meter_id),
    GATEWAY + "Subscribe": ScopeRule(
        request_meters=lambda r: list(r.meter_ids), response_meter=lambda a: a.meter_id
    ),
    GATEWAY + "History": ScopeRule(request_meters=lambda r: [r.meter_id]),
    GATEWAY + "AcknowledgeAlarm": ScopeRule(request_meters=lambda r: [r.meter_id]),
    GATEWAY + "Report": ScopeRule(request_meters=lambda r: [r.meter_id]),
    GATEWAY + "ListMeters": ScopeRule(filter_response=_filter_meter_list),
}


def _denied_handler(handler: grpc.RpcMethodHandler, error: AuthError) -> grpc.RpcMethodHandler:
    """A handler of the same shape that only answers with the error."""

    async def abort(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(error.code, error.reason)

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await context.abort(error.code, error.reason)
        yield  # pragma: no cover - makes this an async generator

    args = (handler.request_deserializer, handler.response_serializer)
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(abort, *args)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(abort, *args)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(abort_stream, *args)
    return grpc.stream_stream_rpc_method_handler(abort_stream, *args)


def _annotate(principal: Principal) -> None:
    span = trace.get_current_span()
    span.set_attribute(attr.ENDUSER_ID, principal.subject)
    span.set_attribute(attr.ENDUSER_ROLE, principal.role.label)


def _guarded(handler: grpc.RpcMethodHandler, principal: Principal, rule: ScopeRule) -> grpc.RpcMethodHandler:
    """The handler run as `principal`, with the RPC's meter scope applied."""
    args = (handler.request_deserializer, handler.response_serializer)
    scoped = principal.scoped

    def enter(request: Any) -> None:
        current_principal.set(principal)
        _annotate(principal)
        if scoped and rule.request_meters is not None:
            check_meters(principal, rule.request_meters(request))

    if handler.unary_unary:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                enter(request)
            except AuthError as exc:
                await context.abort(exc.code, exc.reason)
            response = await inner(request, context)
            if scoped and rule.filter_response is not None and response is not None:
                response = rule.filter_response(principal, response)
            return response

        return grpc.unary_unary_rpc_method_handler(unary, *args)

    if handler.unary_stream:
        inner_us = handler.unary_stream

        async def server_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                enter(request)
            except AuthError as exc:
                await context.abort(exc.code, exc.reason)
            async for item in inner_us(request, context):
                if (
                    scoped
                    and rule.response_meter is not None
                    and not principal.may_see(rule.response_meter(item))
                ):
                    continue
                yield item

        return grpc.unary_stream_rpc_method_handler(server_stream, *args)

    if handler.stream_stream:
        inner_ss = handler.stream_stream

        async def bidi(request_iterator: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            current_principal.set(principal)
            _annotate(principal)
            refused: list[AuthError] = []

            async def checked() -> AsyncIterator[Any]:
                async for item in request_iterator:
                    if scoped and rule.stream_item_meter is not None:
                        meter = rule.stream_item_meter(item)
                        if not principal.may_see(meter):
                            refused.append(scope_denied(principal, [meter]))
                            return  # end of input: the servicer answers what came before
                    yield item

            async for item in inner_ss(checked(), context):
                yield item
            if refused:
                await context.abort(refused[0].code, refused[0].reason)

        return grpc.stream_stream_rpc_method_handler(bidi, *args)

    # Client-streaming RPCs carry no meter rule yet: role check only.
    inner_su = handler.stream_unary

    async def client_stream(request_iterator: Any, context: grpc.aio.ServicerContext) -> Any:
        current_principal.set(principal)
        _annotate(principal)
        return await inner_su(request_iterator, context)

    return grpc.stream_unary_rpc_method_handler(client_stream, *args)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Verifies the bearer token, the role per RPC and the meter scope (see module doc)."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_PREFIXES):
            return handler
        try:
            principal = authenticate(handler_call_details.invocation_metadata, self.keys)
            authorize(principal, method)
        except AuthError as exc:
            log.info("call refused", extra={"method": method, "code": exc.code.name, "reason": exc.reason})
            return _denied_handler(handler, exc)
        return _guarded(handler, principal, SCOPE_RULES.get(method, ScopeRule()))


def interceptors_from_env() -> list[grpc.aio.ServerInterceptor]:
    """[AuthInterceptor] when GRIDTWIN_AUTH is on (keys must be configured: fail closed at
    start), else []."""
    return [AuthInterceptor(Keys.from_env())] if auth_enabled() else []


def log_auth_mode(service: str) -> None:
    """One line at start: which auth is on, or a loud warning that there is none (called once
    the service's JSON logging is set up)."""
    if auth_enabled():
        log.info("auth on: bearer tokens required", extra={"algorithm": Keys.from_env().algorithm})
        return
    log.warning(
        "AUTH IS OFF (GRIDTWIN_AUTH=off): anyone who reaches the %s can call every RPC as admin. "
        "Set GRIDTWIN_AUTH=on and GRIDTWIN_JWT_SECRET for anything but a single-user localhost.",
        service,
    )
