"""The decision module's models share one asset-register read per batch."""

from __future__ import annotations

import asyncio

import numpy as np

from gridtwin.decision.equipment import equipment_of, fetch_equipment
from gridtwin.serving.model import ModuleBatch
from gridtwin.v1 import reading_pb2


class CountingRegister:
    """Stands in for MeterState.assets only (unit level: what is counted is our own calls)."""

    def __init__(self) -> None:
        self.reads = 0

    async def assets(self, meter_ids, fields):
        self.reads += 1
        await asyncio.sleep(0)  # let the other models' prepare start meanwhile
        return {"m-1": {"battery_kw": 5.0, "battery_kwh": 10.0}}


def test_models_of_one_batch_read_the_register_once() -> None:
    batch = ModuleBatch(
        readings=[reading_pb2.Reading(meter_id=m) for m in ("m-1", "m-2", "m-1")],
        features=np.zeros((3, 1)),
        feature_names=("x",),
        schema_version="test",
    )
    register = CountingRegister()

    async def run() -> None:
        await asyncio.gather(*(fetch_equipment(batch, register, name) for name in ("a", "b", "c")))

    asyncio.run(run())
    assert register.reads == 1
    for name in ("a", "b", "c"):
        first, second, third = equipment_of(batch, name)
        assert first is third and first is not None and second is not None
        assert first != second  # m-1 has a battery, m-2 has nothing registered
