"""The model registry on disk: one folder per model with a manifest and its artifacts.

Layout (`GRIDTWIN_REGISTRY`, default `registry/`)::

    registry/<model_name>/manifest.json   # what the model is and how well it does
    registry/<model_name>/<artifacts>     # files named in manifest["artifacts"]

The manifest holds: name, module, version (a content hash of the artifacts and the manifest
body, so equal content gives an equal version), algorithm, hyper-parameters, training data
(generator version, seed, rows, split), feature list and schema version, test metrics beside
the naive baseline's and the goal, single-row and batch latency, artifact size. Services load
only models whose manifest verifies against its artifacts (`load_entry`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridtwin.core.config import settings

MANIFEST = "manifest.json"

# The sixteen models by module, named as the Assessment fields (the public contract, protos/gridtwin/v1/assessment.proto).
MODULE_MODELS: dict[str, tuple[str, ...]] = {
    "monitoring": ("voltage_anomaly", "harmonic_analysis", "frequency_stability", "phase_imbalance"),
    "maintenance": ("equipment_failure", "overload_risk", "power_quality_index", "voltage_sag"),
    "energy": ("load_forecast", "energy_loss", "power_flow_optimization", "demand_response"),
    "decision": ("reactive_power", "load_balancing", "grid_stability", "optimal_dispatch"),
}
MODEL_MODULE: dict[str, str] = {m: mod for mod, models in MODULE_MODELS.items() for m in models}


class RegistryError(Exception):
    """A manifest is missing, unreadable or does not match its artifacts."""


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    path: Path
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def algorithm(self) -> str:
        return str(self.manifest.get("algorithm", ""))

    def artifact(self, key: str) -> Path:
        return self.path / self.manifest["artifacts"][key]


def registry_dir(root: str | os.PathLike[str] | None = None) -> Path:
    return Path(root if root is not None else settings().registry_dir)


def _content_hash(folder: Path, artifacts: dict[str, str], body: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for key in sorted(artifacts):
        digest.update(key.encode())
        digest.update((folder / artifacts[key]).read_bytes())
    stable = {k: v for k, v in body.items() if k not in ("version", "registered_at")}
    digest.update(json.dumps(stable, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def register(
    name: str,
    artifact_files: dict[str, str | os.PathLike[str]],
    manifest: dict[str, Any],
    root: str | os.PathLike[str] | None = None,
) -> RegistryEntry:
    """Copy the artifacts into the registry and write the manifest atomically.

    The model folder is built in a temporary sibling and renamed into place, so a service
    that reads the registry while training runs sees the old or the new model, never a mix.
    """
    if name not in MODEL_MODULE:
        raise RegistryError(f"unknown model {name!r}")
    root_path = registry_dir(root)
    root_path.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root_path))
    artifacts: dict[str, str] = {}
    size = 0
    for key, src in artifact_files.items():
        dest = staging / Path(src).name
        shutil.copy2(src, dest)
        artifacts[key] = dest.name
        size += dest.stat().st_size
    body = dict(manifest)
    body.update(name=name, module=MODEL_MODULE[name], artifacts=artifacts, artifact_bytes=size)
    body["version"] = _content_hash(staging, artifacts, body)
    (staging / MANIFEST).write_text(json.dumps(body, indent=2, sort_keys=True, default=str))
    final = root_path / name
    swap_into_place(staging, final)
    return RegistryEntry(name, final, body)


def swap_into_place(staging: Path, final: Path) -> None:
    """Rename a fully written model folder over `final` (the old one is removed after).

    A reader sees the old or the new folder, never a mix (the lifecycle's promote and
    rollback install versions the same way)."""
    backup = final.parent / f".{final.name}.old"
    if backup.exists():
        shutil.rmtree(backup)
    if final.exists():
        final.rename(backup)
    staging.rename(final)
    if backup.exists():
        shutil.rmtree(backup)


def load_folder(name: str, folder: Path) -> RegistryEntry:
    """The entry of model `name` stored in `folder`, verified against its content hash.

    Raises RegistryError when the folder has no manifest or does not verify."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        expected = _content_hash(folder, manifest["artifacts"], manifest)
    except (OSError, ValueError, KeyError) as exc:
        raise RegistryError(f"{name}: unreadable manifest in {folder.name}: {exc}") from exc
    if expected != manifest.get("version"):
        raise RegistryError(f"{name}: artifacts do not match manifest version {manifest.get('version')}")
    return RegistryEntry(name, folder, manifest)


def load_entry(name: str, root: str | os.PathLike[str] | None = None) -> RegistryEntry | None:
    """The registered entry for `name`, or None when the model is not registered.

    Raises RegistryError when a manifest exists but does not verify (tampered or partial).
    """
    folder = registry_dir(root) / name
    if not (folder / MANIFEST).exists():
        return None
    return load_folder(name, folder)


def list_entries(root: str | os.PathLike[str] | None = None) -> dict[str, RegistryEntry | None]:
    out: dict[str, RegistryEntry | None] = {}
    for name in MODEL_MODULE:
        try:
            out[name] = load_entry(name, root)
        except RegistryError:
            out[name] = None
    return out
