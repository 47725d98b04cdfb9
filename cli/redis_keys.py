"""`gridtwin redis migrate`: move the keys written before the hash-tagged layout that have no
TTL (asset register, battery state of charge) to their new names; report the rest, which
expire by themselves (gridtwin.keymigration). `gridtwin redis migrate-intervals`: move 15-min
meters' load-forecast history to the interval-end convention (gridtwin.intervalmigration)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("redis", help="maintenance of the mesh's Redis keys")
    action = parser.add_subparsers(dest="action", required=True)
    migrate = action.add_parser("migrate", help="migrate keys of the layout before meter hash tags")
    migrate.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    migrate.add_argument(
        "--delete-expiring", action="store_true", help="also delete old keys that would expire by their TTL"
    )
    intervals = action.add_parser(
        "migrate-intervals",
        help="move 15-min meters' load-forecast history to the interval-end convention (once, at the upgrade)",
    )
    intervals.add_argument("--dry-run", action="store_true", help="report only, change nothing")
    parser.set_defaults(handler=_run)


def _client():  # type: ignore[no-untyped-def]
    import redis
    from redis.cluster import ClusterNode, RedisCluster

    from gridtwin.core.config import settings
    from gridtwin.core.redis_client import cluster_nodes

    seeds = cluster_nodes()
    if seeds:
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in seeds])
    return redis.Redis.from_url(settings().redis_url)


def _run_intervals(args: argparse.Namespace) -> int:
    from gridtwin.core.config import settings
    from gridtwin.intervalmigration import migrate_intervals

    prefix = settings().redis_prefix
    report = migrate_intervals(_client(), prefix, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing is changed")
    for outcome, n in sorted(report.items()):
        print(f"{prefix}load_forecast history: {n} meters {outcome}")
    if not report:
        print(f"no load-forecast history under {prefix}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from gridtwin.core.config import settings
    from gridtwin.keymigration import migrate

    if args.action == "migrate-intervals":
        return _run_intervals(args)
    prefix = settings().redis_prefix
    report = migrate(_client(), prefix, delete_expiring=args.delete_expiring, dry_run=args.dry_run)
    if args.dry_run:
        print("dry run: nothing is changed")
    for label, counts in (
        ("moved to the hash-tagged key", report.moved),
        ("deleted (a newer hash-tagged key exists)", report.kept_newer),
        ("deleted", report.deleted),
        ("left to expire by their TTL", report.expiring),
        ("of them had no TTL", report.without_ttl),
    ):
        for family, n in sorted(counts.items()):
            print(f"{prefix}{family}: {n} keys {label}")
    if not any((report.moved, report.kept_newer, report.deleted, report.expiring)):
        print(f"no keys of the old layout under {prefix}")
    return 0
