"""The same bearer tokens and roles for the web service (FastAPI).

    from gridtwin.security.web import require
    @app.get("/reports/{meter_id}")
    async def report(meter_id: str, who: Principal = Depends(require(Role.VIEWER))):
        if not who.may_see(meter_id): raise HTTPException(403, ...)
        ...  # call the gateway with metadata=who.metadata() (forwards the caller's token)

No or bad token → 401 with `WWW-Authenticate: Bearer` and the reason; too low a role → 403.
With `GRIDTWIN_AUTH=off` every request is ANONYMOUS (admin, no scope, no token to forward).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache

from fastapi import HTTPException, Request

from gridtwin.security.auth import auth_enabled
from gridtwin.security.roles import ANONYMOUS, Principal, Role
from gridtwin.security.tokens import Keys, TokenError, verify_token


@cache
def _keys() -> Keys | None:
    return Keys.from_env() if auth_enabled() else None


def principal_from_header(header: str | None, keys: Keys) -> Principal:
    """Principal of an HTTP `Authorization: Bearer <jwt>` header; HTTPException 401 otherwise."""
    scheme, _, token = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status_code=401,
            detail="missing bearer token: send 'Authorization: Bearer <token>' (gridtwin token create)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return verify_token(token.strip(), keys)
    except TokenError as exc:
        raise HTTPException(
            status_code=401, detail=str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        ) from None


def require(role: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the caller's Principal, at least `role`."""

    async def dependency(request: Request) -> Principal:
        keys = _keys()
        if keys is None:
            return ANONYMOUS
        principal = principal_from_header(request.headers.get("authorization"), keys)
        if not principal.may(role):
            raise HTTPException(
                status_code=403,
                detail=f"role {principal.role.label} may not do this: needs {role.label} or higher",
            )
        return principal

    return dependency
