"""Asset data per meter (rating, age, last maintenance): what a utility's asset register holds.

Maintenance models read it from the Redis hash `{prefix}meter:{meter_id}:asset`; readings do
not carry it. `gridtwin assets import --csv FILE` (cli/assets.py) loads a utility's register
(columns `meter_id` plus any of ASSET_FIELDS); `gridtwin assets simulated` loads the simulated
feeder's register (gridsim/assets.py), which `make run` does for its live feed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

ASSET_FIELDS = (
    "rated_current_a",  # A, the asset's rated current (thermal limit) at the meter
    "age_years",  # equivalent age of the insulation, years of ageing at 98 degC hot spot
    "last_maintenance_unix",  # s since the epoch
)


def asset_key(prefix: str, meter_id: str) -> str:
    return f"{prefix}meter:{meter_id}:asset"


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
