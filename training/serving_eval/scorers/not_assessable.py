"""Models whose headline figure the held-out world cannot test, and why (one row each).

Each row also says what the model answered (status mix), so "not assessable" is never read
as "not served".
"""

from __future__ import annotations

import pandas as pd

from gridtwin.v1 import assessment_pb2
from training.heldout import HeldOutStream
from training.serving_eval.verdict import Row, not_assessable

#: model → (headline metric, why the world cannot test it)
REASONS: dict[str, tuple[str, str]] = {
    "harmonic_analysis": (
        "voltage-only source accuracy / THD error",
        "the world has no waveforms and no harmonic sources; from RMS readings the served THD is an estimate",
    ),
    "equipment_failure": (
        "failure ROC AUC",
        "no asset fails in the world (insulation ageing takes years; the streams last hours to two weeks)",
    ),
    "grid_stability": (
        "onset ROC AUC beside persistence",
        "the world is independent LV connections with no system dynamics: no instability onsets to label",
    ),
    "demand_response": (
        "segment ARI",
        "the world's customers have no segment label (one load model with random parameters)",
    ),
    "energy_loss": (
        "loss R²",
        "the world models no feeder behind its meters; the served model treats an uncatalogued meter as the "
        "transformer meter of a training feeder, whose losses the world cannot give",
    ),
    "power_quality_index": (
        "PQI R²",
        "the PQI is the project's own weighted index over a week of EN 50160 statistics; the world has no "
        "independent PQI truth",
    ),
}
_STATUS = {
    assessment_pb2.OK: "OK",
    assessment_pb2.DEGRADED: "DEGRADED",
    assessment_pb2.UNAVAILABLE: "UNAVAILABLE",
    assessment_pb2.FAILED: "FAILED",
}


def status_mix(answers: pd.DataFrame, model: str) -> str:
    """E.g. "served: 97 % OK, 3 % DEGRADED"."""
    s = (
        answers[f"{model}.info.status"]
        .map(lambda c: _STATUS.get(c, "no answer"))
        .value_counts(normalize=True)
    )
    return "served: " + ", ".join(f"{v:.0%} {k}" for k, v in s.items())


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    return [
        not_assessable(model, cadence, metric, f"{why} ({status_mix(answers, model)})")
        for model, (metric, why) in REASONS.items()
    ]
