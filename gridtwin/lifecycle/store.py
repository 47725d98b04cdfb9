"""Model versions and their aliases (`champion`, `challenger`), with who moved them and why.

The registry keeps its layout: `registry/<name>/` is the **champion**, so every reader of the
registry (the modules, training's decision models, reports) sees the version in charge. The
lifecycle adds, per model::

    registry/lifecycle/<name>/versions/<version>/   every version it has seen (manifest + artifacts)
    registry/lifecycle/<name>/aliases.json          challenger, its mode (shadow | canary) and share,
                                                    and the champions before the current one
    registry/lifecycle/<name>/events.jsonl          one line per alias move: action, versions, who, why, when
    registry/lifecycle/<name>/reference-<version>.json   drift reference of a version (gridtwin.lifecycle.drift)

A version is its content hash (gridtwin.registry): a version folder is verified on every load,
and promote/rollback install a verified folder as the champion with an atomic rename.
Why not MLflow: docs/lifecycle.md.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridtwin.core.config import settings
from gridtwin.registry import (
    MODEL_MODULE,
    RegistryEntry,
    RegistryError,
    load_entry,
    load_folder,
    registry_dir,
    swap_into_place,
)

LIFECYCLE = "lifecycle"
MODES = ("shadow", "canary")


class LifecycleError(Exception):
    """An alias move that cannot be made (no challenger, nothing to roll back to, unknown model)."""


@dataclass
class Aliases:
    """Where a model's aliases point. `champion` is the version in `registry/<name>/`."""

    champion: str | None
    challenger: str | None = None
    mode: str = "shadow"
    canary_share: float = 0.0
    previous: list[str] = field(default_factory=list)  # earlier champions, oldest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "mode": self.mode,
            "canary_share": self.canary_share,
            "previous": list(self.previous),
        }


def model_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    if name not in MODEL_MODULE:
        raise LifecycleError(f"unknown model {name!r}; known: {', '.join(MODEL_MODULE)}")
    return registry_dir(root) / LIFECYCLE / name


def aliases_path(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    return model_dir(name, root) / "aliases.json"


def read_aliases(name: str, root: str | os.PathLike[str] | None = None) -> Aliases:
    """The aliases of `name` (champion read from the registry folder itself)."""
    try:
        champion_entry = load_entry(name, root)
    except RegistryError:
        champion_entry = None
    champion = champion_entry.version if champion_entry else None
    path = aliases_path(name, root)
    if not path.exists():
        return Aliases(champion=champion)
    raw = json.loads(path.read_text())
    return Aliases(
        champion=champion,
        challenger=raw.get("challenger"),
        mode=raw.get("mode", "shadow"),
        canary_share=float(raw.get("canary_share", 0.0)),
        previous=list(raw.get("previous", [])),
    )


def _write_aliases(name: str, aliases: Aliases, root: str | os.PathLike[str] | None) -> None:
    path = aliases_path(name, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".aliases-", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(aliases.as_dict(), handle, indent=2)
    os.replace(tmp, path)


@contextmanager
def _locked(name: str, root: str | os.PathLike[str] | None) -> Iterator[None]:
    """One alias move at a time per model (two admins promoting at once would race)."""
    folder = model_dir(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def version_dir(name: str, version: str, root: str | os.PathLike[str] | None = None) -> Path:
    return model_dir(name, root) / "versions" / version


def load_version(name: str, version: str, root: str | os.PathLike[str] | None = None) -> RegistryEntry:
    """A stored version, verified against its content hash (RegistryError otherwise)."""
    folder = version_dir(name, version, root)
    entry = load_folder(name, folder)
    if entry.version != version:
        raise RegistryError(f"{name}: folder {version} holds version {entry.version}")
    return entry


def list_versions(name: str, root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Every stored version of `name`, oldest first: version, registered_at, metrics."""
    folder = model_dir(name, root) / "versions"
    out = []
    for sub in sorted(folder.glob("*"), key=lambda p: p.stat().st_mtime) if folder.exists() else []:
        try:
            manifest = json.loads((sub / "manifest.json").read_text())
        except (OSError, ValueError):
            continue
        out.append(
            {
                "version": sub.name,
                "metrics": manifest.get("metrics", {}),
                "trained": manifest.get("training_data", {}),
            }
        )
    return out


def archive(entry: RegistryEntry, root: str | os.PathLike[str] | None = None) -> Path:
    """Keep a copy of `entry`'s folder as a version (idempotent: the version is the content)."""
    dest = version_dir(entry.name, entry.version, root)
    if (dest / "manifest.json").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.version}-", dir=dest.parent))
    for item in entry.path.iterdir():
        if item.is_file():
            shutil.copy2(item, staging / item.name)
    os.replace(staging, dest)
    return dest


def _install(name: str, version: str, root: str | os.PathLike[str] | None) -> None:
    """Make `version` the champion: copy its verified folder over `registry/<name>/`."""
    entry = load_version(name, version, root)
    base = registry_dir(root)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=base))
    for item in entry.path.iterdir():
        if item.is_file():
            shutil.copy2(item, staging / item.name)
    load_folder(name, staging)  # verify the copy before it goes live
    swap_into_place(staging, base / name)


def _record(name: str, root: str | os.PathLike[str] | None, **event: Any) -> dict[str, Any]:
    event = {"at": time.time(), **event}
    path = model_dir(name, root) / "events.jsonl"
    with open(path, "a") as handle:
        handle.write(json.dumps(event, sort_keys=True) + "\n")
    return event


def events(name: str, root: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    path = model_dir(name, root) / "events.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _who(who: str | None) -> str:
    if who or settings().user:
        return who or settings().user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return f"uid {os.getuid()}"


def set_challenger(
    name: str,
    entry: RegistryEntry,
    *,
    mode: str = "shadow",
    canary_share: float = 0.0,
    who: str | None = None,
    why: str = "",
    root: str | os.PathLike[str] | None = None,
) -> Aliases:
    """Store `entry` (a staged, verified version) as a version and point `challenger` at it."""
    if mode not in MODES:
        raise LifecycleError(f"mode {mode!r} is not one of {MODES}")
    if not 0.0 <= canary_share <= 1.0:
        raise LifecycleError(f"canary_share {canary_share} is outside [0, 1]")
    with _locked(name, root):
        aliases = read_aliases(name, root)
        if aliases.champion == entry.version:
            raise LifecycleError(f"{name}: version {entry.version} is already the champion")
        champion = load_entry(name, root)
        if champion is not None:
            archive(champion, root)
        archive(entry, root)
        aliases.challenger, aliases.mode, aliases.canary_share = entry.version, mode, canary_share
        _write_aliases(name, aliases, root)
        _record(name, root, action="challenger", version=entry.version, mode=mode, who=_who(who), why=why)
        return aliases


def promote(
    name: str, *, who: str | None = None, why: str = "", root: str | os.PathLike[str] | None = None
) -> Aliases:
    """The challenger becomes the champion; the old champion is kept for rollback."""
    with _locked(name, root):
        aliases = read_aliases(name, root)
        if not aliases.challenger:
            raise LifecycleError(f"{name} has no challenger to promote")
        old = load_entry(name, root)
        if old is not None:
            archive(old, root)
            aliases.previous.append(old.version)
        new = aliases.challenger
        _install(name, new, root)
        aliases.champion, aliases.challenger = new, None
        _write_aliases(name, aliases, root)
        _record(
            name,
            root,
            action="promote",
            version=new,
            replaced=old.version if old else None,
            who=_who(who),
            why=why,
        )
        return aliases


def rollback(
    name: str, *, who: str | None = None, why: str = "", root: str | os.PathLike[str] | None = None
) -> Aliases:
    """The champion before the current one is reinstated (the challenger is cleared)."""
    with _locked(name, root):
        aliases = read_aliases(name, root)
        if not aliases.previous:
            raise LifecycleError(f"{name} has no earlier champion to roll back to")
        target = aliases.previous.pop()
        replaced = aliases.champion
        _install(name, target, root)
        aliases.champion, aliases.challenger = target, None
        _write_aliases(name, aliases, root)
        _record(name, root, action="rollback", version=target, replaced=replaced, who=_who(who), why=why)
        return aliases


def reference_path(name: str, version: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where the drift reference of `version` is kept (written at registration)."""
    return model_dir(name, root) / f"reference-{version}.json"
