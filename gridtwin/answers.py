"""How a model's answer counts in summaries (the live feed, the model report, the dashboard).

A model answers DEGRADED both when its answer is really partial (no history yet, a missing
asset record, a late module) and when the meter is outside the model's scope (a feeder-level
model asked about a customer meter). The second is "not applicable to this meter", not a
degradation; the models say so at the start of `info.detail`, with the phrases below.
"""

from __future__ import annotations

from gridtwin.netopt.catalogue import KIND_CUSTOMER, scope_note
from gridtwin.v1 import assessment_pb2

#: Detail prefixes of answers that do not apply to the meter (see the module docstring).
NOT_APPLICABLE_PREFIXES: tuple[str, ...] = (
    scope_note(KIND_CUSTOMER, ""),  # feeder-level energy/decision models on a customer meter
    "no phase map for this meter",  # load_balancing: transformer and feeder-head meters only
)

NOT_APPLICABLE = "NOT_APPLICABLE"


def not_applicable(info: assessment_pb2.ModelInfo) -> bool:
    return info.status == assessment_pb2.DEGRADED and info.detail.startswith(NOT_APPLICABLE_PREFIXES)


def answer_class(info: assessment_pb2.ModelInfo) -> str:
    """OK | DEGRADED | NOT_APPLICABLE | UNAVAILABLE | FAILED | MODEL_STATUS_UNSPECIFIED."""
    if not_applicable(info):
        return NOT_APPLICABLE
    return assessment_pb2.ModelStatus.Name(info.status)
