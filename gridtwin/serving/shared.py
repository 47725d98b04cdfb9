"""Redis reads shared by the models of one module call: the first model that asks starts the
read, the others await the same one (their `prepare`s run concurrently on the module's loop).

A module's models each read the asset register for the same meters; one round trip per model
is what a call's `prepare` cost beyond each model's own state (docs/architecture.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.state import MeterState


async def shared_assets(
    batch: ModuleBatch, state: MeterState, fields: Sequence[str]
) -> dict[str, dict[str, float]]:
    """`state.assets(batch.meter_ids, fields)`, read once per batch for every model that asks
    for the same fields (a failed read fails each of them, as its own read would have)."""
    key = "_assets:" + ",".join(fields)
    shared = batch.context.get(key)
    if shared is None:
        shared = batch.context[key] = asyncio.ensure_future(state.assets(batch.meter_ids, list(fields)))
    return await shared
