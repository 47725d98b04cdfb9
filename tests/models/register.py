"""The asset register as the decision models see it after `prepare`, for tests that call
`predict` directly: the simulated feeder's register (gridsim/assets.py) or a given one."""

from __future__ import annotations

from collections.abc import Mapping

from gridsim.assets import equipment
from gridtwin.assets import Equipment
from gridtwin.serving.model import ModuleBatch


def simulated(meter_id: str) -> Equipment:
    kind = "transformer" if meter_id.endswith("-TR") else "feeder_head" if "-F" in meter_id else "customer"
    return Equipment.from_record(equipment(kind))


def with_register(
    batch: ModuleBatch, model: str, register: Mapping[str, Equipment] | None = None
) -> ModuleBatch:
    """`batch` with the register read for `model` (default: the simulated feeder's)."""
    known = {
        m: (register.get(m, Equipment()) if register is not None else simulated(m)) for m in batch.meter_ids
    }
    batch.context.setdefault(model, {})["equipment"] = known
    return batch
