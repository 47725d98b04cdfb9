"""Asset data per meter (rating, age, last maintenance): what a utility's asset register holds.

Models read it from the Redis hash `<prefix>asset:{meter_id}` (the meter as a hash tag, so it
shares the meter's Redis Cluster slot) through their state store (gridtwin/serving/state.py);
readings do not carry it. `gridtwin assets import --csv FILE` (cli/assets.py) loads a utility's register
(columns `meter_id` plus any of ASSET_FIELDS); `gridtwin assets simulated` loads the simulated
feeder's register (gridsim/assets.py), which `make run` does for its live feed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gridtwin.core.redis_client import meter_tag

ASSET_FIELDS = (
    "rated_current_a",  # A, the asset's rated current (thermal limit) at the meter
    "age_years",  # equivalent age of the insulation, years of ageing at 98 degC hot spot
    "last_maintenance_unix",  # s since the epoch
)


def asset_key(prefix: str, meter_id: str) -> str:
    """`<prefix>asset:{meter}`: the meter's register entry (a hash of ASSET_FIELDS)."""
    return f"{prefix}asset:{meter_tag(meter_id)}"


async def read_assets(
    client: Any, prefix: str, meter_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Numeric register fields per distinct meter (asyncio client; one HMGET per meter in one
    non-transactional pipeline, which a cluster client splits by node). Missing or
    unparsable fields are left out; a meter without any is absent."""
    unique = list(dict.fromkeys(meter_ids))
    if client is None or not unique or not fields:
        return {}
    pipe = client.pipeline(transaction=False)
    for m in unique:
        pipe.hmget(asset_key(prefix, m), *fields)
    rows = await pipe.execute()
    out: dict[str, dict[str, float]] = {}
    for m, values in zip(unique, rows, strict=True):
        record = {}
        for f, v in zip(fields, values, strict=True):
            try:
                value = float(v) if v is not None else math.nan
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                record[f] = value
        if record:
            out[m] = record
    return out


def write_assets(client: Any, prefix: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Write asset records (sync redis client); returns how many meters were written."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for record in records:
        values = {
            f: float(record[f])
            for f in ASSET_FIELDS
            if record.get(f) not in (None, "") and math.isfinite(float(record[f]))
        }
        if values:
            pipe.hset(asset_key(prefix, str(record["meter_id"])), mapping=values)
            count += 1
    pipe.execute()
    return count
