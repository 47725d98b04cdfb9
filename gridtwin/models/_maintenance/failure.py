"""Inputs of the equipment-failure XGBoost models (transformer-day ageing and stress).

Training rows are the simulator fleet's transformer-days; serving rows come from the
Redis state integrated from readings (`_maintenance.asset_state`) and the asset hash.
"""

from __future__ import annotations

EQF_FEATURES: tuple[str, ...] = (
    "age_years",  # equivalent age (years of ageing at 98 °C)
    "days_since_maintenance",
    "mean_load_factor",  # last complete day
    "max_load_factor",
    "mean_ambient_c",
    "max_hot_spot_c",  # IEC 60076-7
    "ageing_hours",  # ∫V dt over the day (h)
    "overload_hours",  # hours with K > 1.3 that day
    "through_faults_30d",
    "overvoltage_events_30d",
    "overload_hours_30d",
    "ageing_hours_30d",
)
