"""Reads a module call shares between its models: the maintenance asset register fields are
read once per call for equipment_failure and overload_risk, and each sees what its own read
would have given it."""

from __future__ import annotations

import asyncio

import numpy as np
import redis

from gridtwin.assets import MAINTENANCE_FIELDS, write_assets
from gridtwin.core.redis_client import connect
from gridtwin.features.schema import FEATURE_NAMES, SCHEMA_VERSION
from gridtwin.registry import load_entry
from gridtwin.serving.model import ModuleBatch
from gridtwin.serving.shared import shared_assets
from gridtwin.serving.state import MeterState
from gridtwin.v1 import reading_pb2

METERS = ["m-1", "m-2", "m-3", "m-1"]
RECORDS = [
    {"meter_id": "m-1", "rated_current_a": 150.0, "age_years": 3.0},
    {"meter_id": "m-2", "age_years": 10.0, "battery_kw": 5.0},  # no rating: the model's own
]


class CountingState(MeterState):
    """A real store that counts its register reads."""

    reads = 0

    async def assets(self, meter_ids, fields):  # type: ignore[no-untyped-def]
        self.reads += 1
        return await super().assets(meter_ids, fields)


def _batch() -> ModuleBatch:
    readings = [reading_pb2.Reading(meter_id=m) for m in METERS]
    return ModuleBatch(readings, np.zeros((len(METERS), len(FEATURE_NAMES))), FEATURE_NAMES, SCHEMA_VERSION)


def test_models_asking_the_same_register_fields_share_one_read(redis_url, redis_prefix) -> None:
    write_assets(redis.Redis.from_url(redis_url), redis_prefix, RECORDS)

    async def run() -> tuple[int, list, dict]:
        client = connect(redis_url)
        try:
            state = CountingState(client, redis_prefix, "overload_risk")
            batch = _batch()
            got = await asyncio.gather(*(shared_assets(batch, state, MAINTENANCE_FIELDS) for _ in range(3)))
            own = await MeterState(client, redis_prefix, "x").assets(METERS, list(MAINTENANCE_FIELDS))
            return state.reads, got, own
        finally:
            await client.aclose()

    reads, got, own = asyncio.run(run())
    assert reads == 1 and all(g == own for g in got)
    assert own == {"m-1": {"rated_current_a": 150.0, "age_years": 3.0}, "m-2": {"age_years": 10.0}}


def test_overload_risk_rates_meters_from_the_shared_read_as_from_its_own(
    redis_url, redis_prefix, quick_registry
) -> None:
    from gridtwin.models.overload_risk import Model

    model = Model(load_entry("overload_risk", quick_registry))
    write_assets(redis.Redis.from_url(redis_url), redis_prefix, RECORDS)

    async def run() -> tuple[np.ndarray, np.ndarray]:
        client = connect(redis_url)
        try:
            shared, alone = _batch(), _batch()
            await model.prepare(shared, MeterState(client, redis_prefix, "overload_risk"))
            # what overload_risk read before the read was shared: its one field only
            alone.context[model.name] = await MeterState(client, redis_prefix, "x").assets(
                METERS, ["rated_current_a"]
            )
            return model._ratings(shared), model._ratings(alone)
        finally:
            await client.aclose()

    shared, alone = asyncio.run(run())
    assert shared[0] == 150.0 and shared[3] == 150.0
    np.testing.assert_array_equal(shared, alone)
