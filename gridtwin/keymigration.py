"""One-shot migration of the Redis keys written before the hash-tagged layout (key layout 3).

Before it, per-meter keys carried the meter id without a hash tag. The new names differ, so the
old keys are never read again. What happens to each old family:

* ``<p>meter:<id>:window`` / ``:profile`` / ``:tw2`` (feature state), ``<p>lf:<id>:acc`` /
  ``:fc`` (load forecast), ``<p>dr:<id>`` (demand-response profile), ``<p>maint:eqf:<id>``
  (asset stress): they had a TTL (7, 10, 40 and 40 days) and expire by themselves; the state
  restarts under the new keys. ``--delete-expiring`` frees their memory at once; an old key of
  these families found without a TTL (none should be) is deleted in any case.
* ``<p>meter:<id>:asset`` (the asset register) and ``<p>dispatch:soc:<id>`` (battery state of
  charge, written by telemetry) had **no TTL**: they would stay forever, and the models would
  no longer see the register or the state of charge. They are copied to their new keys
  (``<p>asset:{<id>}``, ``<p>optimal_dispatch:{<id>}:soc``) unless a new key already exists
  (written after the upgrade, so newer), then deleted.

Keys whose name already has a ``{`` are the new layout and are never touched. Safe to run
twice and while the mesh runs (a copy never overwrites a newer key).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gridtwin.assets import asset_key
from gridtwin.serving.state import MeterState

#: Old families that expire by their TTL: (pattern after the prefix, its TTL in days).
EXPIRING = {
    "meter:*:window": 7,
    "meter:*:profile": 7,
    "meter:*:tw2": 7,
    "lf:*:acc": 10,
    "lf:*:fc": 10,
    "dr:*": 40,
    "maint:eqf:*": 40,
}
#: Old families without a TTL, moved to their new keys.
MOVED = ("meter:*:asset", "dispatch:soc:*")


@dataclass
class MigrationReport:
    moved: Counter[str] = field(default_factory=Counter)  # copied to the new key, old deleted
    kept_newer: Counter[str] = field(default_factory=Counter)  # new key existed: old deleted only
    expiring: Counter[str] = field(default_factory=Counter)  # left to their TTL
    deleted: Counter[str] = field(default_factory=Counter)  # expiring keys deleted on request
    without_ttl: Counter[str] = field(default_factory=Counter)  # expiring family, but no TTL


def _old_keys(client: Any, prefix: str, pattern: str) -> list[bytes]:
    return [k for k in client.scan_iter(match=prefix + pattern, count=1000) if b"{" not in k]


def new_key(prefix: str, family: str, old: str) -> str:
    """The hash-tagged key that replaces the old key `old` of a moved family."""
    rest = old[len(prefix) :]
    if family == "meter:*:asset":
        return asset_key(prefix, rest[len("meter:") : -len(":asset")])
    return MeterState(None, prefix, "optimal_dispatch").key(rest[len("dispatch:soc:") :], "soc")


def _move(client: Any, prefix: str, family: str, key: bytes, report: MigrationReport, dry_run: bool) -> None:
    target = new_key(prefix, family, key.decode())
    if client.exists(target):
        report.kept_newer[family] += 1
        if not dry_run:
            client.delete(key)
        return
    report.moved[family] += 1
    if dry_run:
        return
    ttl_ms = client.pttl(key)
    if family == "meter:*:asset":
        values = client.hgetall(key)
        if values:
            client.hset(target, mapping=values)
    else:
        value = client.get(key)
        if value is not None:
            client.set(target, value, nx=True, px=ttl_ms if ttl_ms > 0 else None)
    client.delete(key)


def migrate(
    client: Any, prefix: str, *, delete_expiring: bool = False, dry_run: bool = False
) -> MigrationReport:
    """Move the old keys that have no TTL to their new names; report (or, with
    `delete_expiring`, delete) the old keys that expire by themselves."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"the Redis key prefix {prefix!r} must not contain braces")
    report = MigrationReport()
    for family in MOVED:
        for key in _old_keys(client, prefix, family):
            _move(client, prefix, family, key, report, dry_run)
    for family in EXPIRING:
        for key in _old_keys(client, prefix, family):
            if client.ttl(key) < 0:
                report.without_ttl[family] += 1
            if delete_expiring or client.ttl(key) < 0:
                report.deleted[family] += 1
                if not dry_run:
                    client.delete(key)
            else:
                report.expiring[family] += 1
    return report
