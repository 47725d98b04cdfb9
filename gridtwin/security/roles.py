"""Roles, what each may call, and the principal a verified token stands for.

Roles are ordered; each includes everything the one below it may do:

| role | may |
|---|---|
| viewer | read: ListModels, ModelHealth, ListMeters, History, Subscribe, Report (EN 50160 and model reports) |
| analyst | viewer + assess readings: Assess, AssessBatch, AssessStream |
| operator | analyst + alarm acknowledgement (AcknowledgeAlarm); the asset register (RPCs to come) |
| admin | operator + model lifecycle (`gridtwin models promote`, `rollback` checks it) and anything not yet classified |

A token may also carry a meter scope: shell-style globs (`feeder-7-*`); then it reaches only
meters matching one of them (see `gridtwin.security.auth` for how each RPC applies it).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase


class Role(enum.IntEnum):
    VIEWER = 1
    ANALYST = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: object) -> Role:
        """`Role` from its lower-case name; ValueError naming the valid ones otherwise."""
        try:
            return cls[str(value).upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValueError(f"role {value!r} is not one of {names}") from None


GATEWAY = "/gridtwin.v1.GridTwin/"

# Least role per full gRPC method name. A public method missing here needs ADMIN: a new RPC is
# closed until someone decides who may call it (tests/unit/test_security_roles.py checks that
# every method of the contract is listed).
RPC_ROLES: dict[str, Role] = {
    GATEWAY + "ListModels": Role.VIEWER,
    GATEWAY + "ModelHealth": Role.VIEWER,
    GATEWAY + "ListMeters": Role.VIEWER,
    GATEWAY + "History": Role.VIEWER,
    GATEWAY + "Subscribe": Role.VIEWER,
    GATEWAY + "Report": Role.VIEWER,
    GATEWAY + "Assess": Role.ANALYST,
    GATEWAY + "AssessBatch": Role.ANALYST,
    GATEWAY + "AssessStream": Role.ANALYST,
    GATEWAY + "AcknowledgeAlarm": Role.OPERATOR,
    # operator: the asset register, when those RPCs exist.
    # admin: model lifecycle (register, promote, retire), when those RPCs exist.
}

# Probes and tooling answer without a token (reflection is switched off in production).
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def required_role(method: str) -> Role:
    return RPC_ROLES.get(method, Role.ADMIN)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject, role and meter scope (empty = every meter)."""

    subject: str
    role: Role
    meters: tuple[str, ...] = ()
    expires_at: int | None = None  # Unix seconds
    token: str = field(default="", repr=False)  # the raw bearer token, for forwarding

    @property
    def scoped(self) -> bool:
        return bool(self.meters)

    def may(self, role: Role) -> bool:
        return self.role >= role

    def may_see(self, meter_id: str) -> bool:
        return not self.meters or any(fnmatchcase(meter_id, glob) for glob in self.meters)

    def outside_scope(self, meter_ids: Sequence[str]) -> list[str]:
        """The distinct meters of `meter_ids` this principal may not reach, in order."""
        return [m for m in dict.fromkeys(meter_ids) if not self.may_see(m)]

    def metadata(self) -> list[tuple[str, str]]:
        """gRPC metadata forwarding this principal's token (the web service → gateway)."""
        return [("authorization", f"Bearer {self.token}")] if self.token else []


# Everyone is admin when auth is off (GRIDTWIN_AUTH=off): the local, single-user setup.
ANONYMOUS = Principal(subject="anonymous", role=Role.ADMIN)
