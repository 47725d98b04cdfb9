"""`gridtwin models list|promote|rollback NAME`: move a model's aliases, with who and why;
`gridtwin models auto-promote [NAME]`: the configured promotion after a shadow period;
`gridtwin models online --meter M`: the served load forecast's MAPE per version from history.

The command works on the registry folder (`GRIDTWIN_REGISTRY`), where the modules watch the
aliases and hot-swap. With `GRIDTWIN_AUTH=on` it needs an admin token in `GRIDTWIN_TOKEN`
(gridtwin.security): the token's subject is recorded as who moved the alias.
"""

from __future__ import annotations

import argparse
import json
import sys

from gridtwin.lifecycle.store import LifecycleError, events, list_versions, promote, read_aliases, rollback
from gridtwin.registry import MODEL_MODULE, RegistryError


def admin_subject() -> str | None:
    """The subject of the admin token when auth is on (PermissionError otherwise); None when off."""
    from gridtwin.core.config import settings
    from gridtwin.security.auth import auth_enabled
    from gridtwin.security.roles import Role
    from gridtwin.security.tokens import Keys, TokenError, verify_token

    if not auth_enabled():
        return None
    token = settings().token
    if not token:
        raise PermissionError("GRIDTWIN_AUTH=on: set GRIDTWIN_TOKEN to an admin token")
    try:
        principal = verify_token(token, Keys.from_env())
    except TokenError as exc:
        raise PermissionError(f"GRIDTWIN_TOKEN: {exc}") from exc
    if principal.role < Role.ADMIN:
        raise PermissionError(
            f"promote and rollback need the admin role; the token is {principal.role.label}"
        )
    return principal.subject


def _show(name: str, registry: str | None) -> dict:
    aliases = read_aliases(name, registry)
    return {
        "model": name,
        **aliases.as_dict(),
        "versions": [v["version"] for v in list_versions(name, registry)],
        "events": events(name, registry)[-5:],
    }


def _online(args: argparse.Namespace) -> int:
    """Online MAPE of the served load forecast per version, from the history database."""
    import time

    from sqlalchemy.exc import SQLAlchemyError

    from gridtwin.history.config import database_url
    from gridtwin.history.repository import Repository
    from gridtwin.lifecycle.online import forecast_accuracy

    repo = Repository(args.database or database_url())
    end_us = int(time.time() * 1e6)
    try:
        results = forecast_accuracy(repo, args.meter, end_us - int(args.hours * 3600e6), end_us, args.horizon)
    except SQLAlchemyError as exc:
        print(f"gridtwin models online: history database unreadable ({type(exc).__name__})", file=sys.stderr)
        return 2
    finally:
        repo.dispose()
    for r in results:
        print(json.dumps({"model": "load_forecast", "meter": args.meter, **r.__dict__}, sort_keys=True))
    if not results:
        print(f"no scored forecasts of {args.meter} in the last {args.hours:g} h", file=sys.stderr)
    return 0 if results else 1


async def _shadow_counts(name: str, version: str) -> dict[str, int]:
    from gridtwin.core.config import settings
    from gridtwin.core.redis_client import connect
    from gridtwin.lifecycle.window import stats_key

    cfg = settings()
    redis = connect(cfg.redis_url)
    try:
        raw = await redis.hgetall(stats_key(cfg.redis_prefix, name, version))
    finally:
        await redis.aclose()
    return {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}


def _auto_promote(args: argparse.Namespace) -> int:
    """Promote every challenger whose shadow period passed without regression (prints why not)."""
    import asyncio

    from gridtwin.core.config import settings
    from gridtwin.lifecycle.promotion import PromotionRules, judge, shadow_started

    cfg = settings()
    rules = PromotionRules(cfg.auto_promote_after_s, cfg.auto_promote_min_answers)
    who = admin_subject() or "auto-promote"
    for name in [args.name] if args.name else list(MODEL_MODULE):
        aliases = read_aliases(name, args.registry)
        if not aliases.challenger:
            continue
        started = shadow_started(name, aliases.challenger, args.registry)
        stats = asyncio.run(_shadow_counts(name, aliases.challenger))
        verdict = judge(aliases, started, stats, rules)
        if verdict.promote:
            promote(name, who=who, why=f"automatic: {verdict.detail}", root=args.registry)
        print(json.dumps({"model": name, "challenger": aliases.challenger, **verdict.__dict__}))
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.models_command == "online":
        return _online(args)
    names = [args.name] if getattr(args, "name", None) else list(MODEL_MODULE)
    try:
        if args.models_command == "list":
            for name in names:
                print(json.dumps(_show(name, args.registry), sort_keys=True))
            return 0
        if args.models_command == "auto-promote":
            return _auto_promote(args)
        who = admin_subject() or args.who
        move = promote if args.models_command == "promote" else rollback
        aliases = move(args.name, who=who, why=args.why, root=args.registry)
    except PermissionError as exc:
        print(f"gridtwin models: {exc}", file=sys.stderr)
        return 3
    except (LifecycleError, RegistryError) as exc:
        print(f"gridtwin models: {exc}", file=sys.stderr)
        return 2
    print(f"{args.name}: champion {aliases.champion}, challenger {aliases.challenger or '-'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    models = sub.add_parser("models", help="model versions and aliases: list, promote, rollback")
    actions = models.add_subparsers(dest="models_command", required=True)
    show = actions.add_parser("list", help="aliases, versions and recent moves (JSON lines)")
    show.add_argument("name", nargs="?", choices=list(MODEL_MODULE))
    for action, text in (
        ("promote", "the challenger becomes the champion"),
        ("rollback", "the previous champion returns"),
    ):
        cmd = actions.add_parser(action, help=text)
        cmd.add_argument("name", choices=list(MODEL_MODULE))
        cmd.add_argument("--why", required=True, help="recorded with the move")
        cmd.add_argument("--who", default=None, help="recorded when auth is off (default: the OS user)")
    auto = actions.add_parser(
        "auto-promote",
        help="promote challengers after a shadow period without regression (GRIDTWIN_AUTO_PROMOTE_*)",
    )
    auto.add_argument("name", nargs="?", choices=list(MODEL_MODULE))
    for cmd in (show, auto, *(actions.choices[a] for a in ("promote", "rollback"))):
        cmd.add_argument("--registry", help="registry folder (default: $GRIDTWIN_REGISTRY or ./registry)")
    online = actions.add_parser("online", help="load_forecast's online MAPE per version from history")
    online.add_argument("--meter", required=True)
    online.add_argument(
        "--hours", type=float, default=24.0, help="target intervals ending in the last H hours"
    )
    online.add_argument("--horizon", type=int, default=60, choices=(15, 60, 1440), help="minutes ahead")
    online.add_argument("--database", help="history database URL (default: $DATABASE_URL)")
    models.set_defaults(handler=_run)
