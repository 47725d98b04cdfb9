"""JWT bearer tokens: create (`gridtwin token create`) and verify (gateway, web service).

Keys, from the environment (the verifier needs only the public half with RS256):

| variable | algorithm | used for |
|---|---|---|
| `GRIDTWIN_JWT_SECRET` | HS256 | signing and verifying; at least 32 characters |
| `GRIDTWIN_JWT_PRIVATE_KEY` | RS256 | path of the PEM RSA private key: signing (the token CLI) |
| `GRIDTWIN_JWT_PUBLIC_KEY` | RS256 | path of the PEM RSA public key: verifying (gateway, web) |

RS256 wins when both are configured. Claims: `sub` (who), `role` (viewer, analyst, operator,
admin), `meters` (optional list of shell-style globs; absent = every meter), `exp`, `iat`, and
`iss`/`aud` = "gridtwin". `exp` is required: there are no eternal tokens.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from gridtwin.core.config import settings
from gridtwin.security.roles import Principal, Role

ISSUER = "gridtwin"
AUDIENCE = "gridtwin"
MIN_SECRET_CHARS = 32
CLOCK_SKEW_S = 30
DEFAULT_TTL = "8h"


class TokenError(Exception):
    """A token that does not verify; the message is safe to show the caller."""


class KeyConfigError(RuntimeError):
    """No usable key is configured."""


@dataclass(frozen=True)
class Keys:
    algorithm: str  # "HS256" or "RS256"
    signing_key: str | bytes | None
    verifying_key: str | bytes | None

    @classmethod
    def from_env(cls) -> Keys:
        cfg = settings()
        private, public = cfg.jwt_private_key.strip(), cfg.jwt_public_key.strip()
        if private or public:
            return cls(
                "RS256", _read(private, "GRIDTWIN_JWT_PRIVATE_KEY"), _read(public, "GRIDTWIN_JWT_PUBLIC_KEY")
            )
        secret = cfg.jwt_secret
        if not secret:
            raise KeyConfigError(
                "no token key: set GRIDTWIN_JWT_SECRET (HS256) or GRIDTWIN_JWT_PUBLIC_KEY/"
                "GRIDTWIN_JWT_PRIVATE_KEY (RS256)"
            )
        if len(secret) < MIN_SECRET_CHARS:
            raise KeyConfigError(f"GRIDTWIN_JWT_SECRET must have at least {MIN_SECRET_CHARS} characters")
        return cls("HS256", secret, secret)


def _read(path: str, var: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyConfigError(f"{var}={path}: {exc.strerror}") from None


_TTL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_ttl(text: str) -> int:
    """Seconds from "90", "30m", "8h", "7d"."""
    match = _TTL.match(text.lower())
    if not match:
        raise ValueError(f"ttl {text!r}: use a number with s, m, h or d (e.g. 8h)")
    seconds = int(float(match.group(1)) * _UNIT_S[match.group(2)])
    if seconds <= 0:
        raise ValueError(f"ttl {text!r} must be positive")
    return seconds


def create_token(
    role: Role,
    subject: str,
    keys: Keys,
    ttl_s: int,
    meters: tuple[str, ...] = (),
    now: float | None = None,
) -> str:
    if keys.signing_key is None:
        raise KeyConfigError("signing needs GRIDTWIN_JWT_PRIVATE_KEY (RS256) or GRIDTWIN_JWT_SECRET (HS256)")
    issued = int(time.time() if now is None else now)
    claims: dict[str, object] = {
        "sub": subject,
        "role": role.label,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if meters:
        claims["meters"] = list(meters)
    return jwt.encode(claims, keys.signing_key, algorithm=keys.algorithm)


def verify_token(token: str, keys: Keys) -> Principal:
    """The principal of a valid token; TokenError with a caller-safe reason otherwise."""
    if keys.verifying_key is None:
        raise KeyConfigError("verifying needs GRIDTWIN_JWT_PUBLIC_KEY (RS256) or GRIDTWIN_JWT_SECRET (HS256)")
    try:
        claims = jwt.decode(
            token,
            keys.verifying_key,
            algorithms=[keys.algorithm],  # never the algorithm the token names
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=CLOCK_SKEW_S,
            options={"require": ["exp", "sub", "role", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("token signature does not verify") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidAudienceError:
        raise TokenError("token is not for gridtwin (aud)") from None
    except jwt.InvalidIssuerError:
        raise TokenError("token was not issued by gridtwin (iss)") from None
    except jwt.InvalidTokenError as exc:
        raise TokenError(f"invalid token ({type(exc).__name__})") from None
    try:
        role = Role.parse(claims["role"])
    except ValueError as exc:
        raise TokenError(f"token {exc}") from None
    meters = claims.get("meters") or []
    if isinstance(meters, str):
        meters = [meters]
    if not isinstance(meters, list) or not all(isinstance(m, str) and m for m in meters):
        raise TokenError("token 'meters' claim must be a list of meter globs")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        meters=tuple(meters),
        expires_at=int(claims["exp"]),
        token=token,
    )


def parse_meters(values: list[str] | None) -> tuple[str, ...]:
    """Globs from repeated and/or comma-separated `--meters` values."""
    out: list[str] = []
    for value in values or []:
        out += [part.strip() for part in value.split(",") if part.strip()]
    return tuple(dict.fromkeys(out))


def register(sub) -> None:  # type: ignore[no-untyped-def]
    """`gridtwin token create --role R [--meters GLOB] [--ttl 8h] [--subject NAME]`."""
    token = sub.add_parser("token", help="bearer tokens for the gateway and the web service")
    actions = token.add_subparsers(dest="token_command", required=True)
    create = actions.add_parser("create", help="print a signed token (key from GRIDTWIN_JWT_*)")
    create.add_argument("--role", required=True, choices=[r.label for r in Role])
    create.add_argument(
        "--meters",
        action="append",
        help="meter glob(s) the token is limited to (repeatable or comma-separated)",
    )
    create.add_argument("--ttl", default=DEFAULT_TTL, help="lifetime: 90s, 30m, 8h, 7d (default 8h)")
    create.add_argument(
        "--subject", default=os.environ.get("USER", "gridtwin-cli"), help="who the token is for"
    )
    create.set_defaults(handler=_cli_create)


def _cli_create(args) -> int:  # type: ignore[no-untyped-def]
    try:
        keys = Keys.from_env()
        ttl_s = parse_ttl(args.ttl)
    except (KeyConfigError, ValueError) as exc:
        print(f"gridtwin token: {exc}", file=sys.stderr)
        return 2
    print(create_token(Role.parse(args.role), args.subject, keys, ttl_s, parse_meters(args.meters)))
    return 0
