"""Small helpers shared by the maintenance models' serving code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gridtwin import assets
from gridtwin.core.config import settings


def impute(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Replace NaN/inf column-wise with the training medians `fill` (same rule in training)."""
    x = np.array(x, dtype=float, copy=True)
    bad = ~np.isfinite(x)
    if bad.any():
        x[bad] = np.broadcast_to(fill, x.shape)[bad]
    return x


def asset_key(meter_id: str) -> str:
    """Redis hash of a meter's asset data (`rated_current_a`, `age_years`, `last_maintenance_unix`).

    Written by asset management (or tests); absent fields fall back to the registered defaults.
    """
    return assets.asset_key(settings().redis_prefix, meter_id)


async def fetch_assets(
    redis: Any, meter_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Asset fields per distinct meter (missing or unparsable fields are left out)."""
    unique = list(dict.fromkeys(meter_ids))
    if redis is None or not unique:
        return {}
    pipe = redis.pipeline(transaction=False)
    for m in unique:
        pipe.hmget(asset_key(m), *fields)
    rows = await pipe.execute()
    out: dict[str, dict[str, float]] = {}
    for m, values in zip(unique, rows, strict=True):
        rec = {}
        for f, v in zip(fields, values, strict=True):
            if v is None:
                continue
            try:
                rec[f] = float(v)
            except (TypeError, ValueError):
                continue
        if rec:
            out[m] = rec
    return out
