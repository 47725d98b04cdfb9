"""Asset data per meter: what a utility's asset register holds (rating, age, last maintenance,
and the controllable equipment behind the meter: battery, genset, capacitor banks, tap changer,
switchable phases).

Models read it from the Redis hash `<prefix>asset:{meter_id}` (the meter as a hash tag, so it
shares the meter's Redis Cluster slot) through their state store (gridtwin/serving/state.py);
readings do not carry it. `gridtwin assets import --csv FILE` (cli/assets.py) loads a utility's register
(columns `meter_id` plus any of ASSET_FIELDS); `gridtwin assets simulated` loads the simulated
feeder's register (gridsim/assets.py), which `make run` does for its live feed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridtwin.core.redis_client import meter_tag

MAINTENANCE_FIELDS = (
    "rated_current_a",  # A, the asset's rated current (thermal limit) at the meter
    "age_years",  # equivalent age of the insulation, years of ageing at 98 degC hot spot
    "last_maintenance_unix",  # s since the epoch
)
# Controllable equipment behind the meter that the decision models may recommend switching.
# Absent or 0 means the meter has none: a decision model never recommends what is not listed.
EQUIPMENT_FIELDS = (
    "battery_kw",  # kW, rated power of a battery the operator dispatches
    "battery_kwh",  # kWh, its usable energy capacity
    "genset_kw",  # kW, rated power of a dispatchable generator set
    "capacitor_kvar",  # kvar, switchable capacitor banks the meter's recommendation may switch
    "tap_steps",  # positions either side of the present tap of a transformer tap changer
    "switchable_phases",  # 1: single-phase loads under the meter can be moved between phases
)
ASSET_FIELDS = MAINTENANCE_FIELDS + EQUIPMENT_FIELDS


@dataclass(frozen=True)
class Equipment:
    """What the asset register says a meter can switch (zero: it has none)."""

    battery_kw: float = 0.0
    battery_kwh: float = 0.0
    genset_kw: float = 0.0
    capacitor_kvar: float = 0.0
    tap_steps: int = 0
    switchable_phases: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, float]) -> Equipment:
        def amount(name: str) -> float:
            return max(float(record.get(name, 0.0)), 0.0)

        return cls(
            battery_kw=amount("battery_kw"),
            battery_kwh=amount("battery_kwh"),
            genset_kw=amount("genset_kw"),
            capacitor_kvar=amount("capacitor_kvar"),
            tap_steps=int(amount("tap_steps")),
            switchable_phases=amount("switchable_phases") >= 1.0,
        )

    @property
    def has_battery(self) -> bool:
        return self.battery_kw > 0 and self.battery_kwh > 0

    @property
    def has_genset(self) -> bool:
        return self.genset_kw > 0


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
