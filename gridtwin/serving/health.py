"""A module's model catalogue with the lifecycle's view: aliases, drift, per-version counts.

`ListModels` of every module answers with it (the gateway's `ListModels` and `ModelHealth`
merge the four modules'). Redis being down leaves the drift and counts empty, with the reason
in `drift.detail`; the catalogue itself is still answered.
"""

from __future__ import annotations

import logging
from typing import Any

from gridtwin.core.telemetry.metrics import record_drift
from gridtwin.lifecycle.drift import DriftStatus
from gridtwin.serving.versions import VersionRouter
from gridtwin.v1 import services_pb2

log = logging.getLogger(__name__)


def drift_message(status: DriftStatus | None, version: str) -> services_pb2.DriftStatus:
    if status is None:
        return services_pb2.DriftStatus(
            has_reference=False, version=version, detail="no drift reference for this version"
        )
    return services_pb2.DriftStatus(
        has_reference=True,
        drifting=status.drifting,
        max_psi=status.max_psi,
        threshold=status.threshold,
        window_readings=status.readings,
        drivers=status.drivers,
        columns=[
            services_pb2.ColumnDrift(name=c.name, psi=c.psi, ks=c.ks, threshold=c.threshold)
            for c in status.columns
        ],
        detail=status.detail,
        version=version,
        window_meters=status.meters,
    )


async def _fill(model: services_pb2.RegisteredModel, router: VersionRouter, redis: Any) -> None:
    model.champion_version = model.version
    challenger = router.challengers.get(model.name)
    if challenger is not None and challenger.aliases.challenger:
        model.challenger_version = challenger.aliases.challenger
        model.challenger_mode = challenger.aliases.mode
        model.canary_share = challenger.aliases.canary_share
        model.challenger_detail = challenger.reason
    if not model.version:
        return
    try:
        status = await router.drift(redis, model.name, model.version)
    except Exception as exc:  # Redis down: the catalogue is still answered
        model.drift.CopyFrom(
            services_pb2.DriftStatus(
                version=model.version, detail=f"drift window unreadable ({type(exc).__name__})"
            )
        )
        return
    model.drift.CopyFrom(drift_message(status, model.version))
    if status is not None:
        record_drift(model.name, model.version, {c.name: c.psi for c in status.columns}, status.drifting)
    model.versions.append(services_pb2.VersionStats(version=model.version, alias="champion"))
    if model.challenger_version:
        stats = await router.version_stats(redis, model.name, model.challenger_version)
        model.versions.append(
            services_pb2.VersionStats(
                version=model.challenger_version,
                alias="challenger",
                answers=stats.get("answers", 0),
                severity_agrees=stats.get("severity_agrees", 0),
            )
        )


async def health_catalog(
    catalog: services_pb2.ModelCatalog, router: VersionRouter, redis: Any
) -> services_pb2.ModelCatalog:
    """`catalog` with every model's aliases, drift status and per-version counts filled in."""
    for model in catalog.models:
        await _fill(model, router, redis)
    return catalog
