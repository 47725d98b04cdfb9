"""The decision models' view of the asset register: which controllable equipment each meter
of a batch has, fetched in `prepare` and read in `predict`.

A meter without a register entry has no equipment (a decision model never recommends switching
what the register does not list). When the register could not be read at all (prepare did not
run or Redis failed), `equipment_of` answers None per item and the model says so (DEGRADED)
instead of assuming either way.
"""

from __future__ import annotations

import asyncio

from gridtwin.assets import EQUIPMENT_FIELDS, Equipment
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.state import MeterState

NO_REGISTER = "asset register not read for this request: no recommendation"
#: The batch's one register read, shared by the module's models (their `prepare`s run
#: concurrently; each read cost a Redis round trip per model before).
_SHARED_READ = "_equipment_read"


async def _read(batch: ModuleBatch, state: MeterState) -> dict[str, Equipment]:
    records = await state.assets(batch.meter_ids, EQUIPMENT_FIELDS)
    return {m: Equipment.from_record(records.get(m, {})) for m in set(batch.meter_ids)}


async def fetch_equipment(batch: ModuleBatch, state: MeterState, name: str) -> None:
    """Put each distinct meter's `Equipment` on `batch.context[name]["equipment"]`, reading
    the register once per batch for all the models that ask (a failed read fails each)."""
    shared = batch.context.get(_SHARED_READ)
    if shared is None:
        shared = asyncio.ensure_future(_read(batch, state))
        batch.context[_SHARED_READ] = shared
    equipment = await shared
    batch.context.setdefault(name, {})["equipment"] = equipment


def equipment_of(batch: ModuleBatch, name: str) -> list[Equipment | None]:
    """The equipment of each item's meter, or None where the register was not read."""
    known = (batch.context.get(name) or {}).get("equipment")
    if known is None:
        return [None] * len(batch)
    return [known.get(m) for m in batch.meter_ids]
