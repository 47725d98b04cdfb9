"""1.4 Phase imbalance: exact unbalance factors + a decision tree naming the cause.

Exact (formulas, no model): ``vuf_pct`` (IEC 61000-4-30 |U2|/|U1| from line-to-line
magnitudes via β, the line voltages derived **assuming 120° spacing** because meters report
magnitudes only), ``lvur_pct`` (NEMA MG-1), ``pvur_pct`` (IEEE), ``current_unbalance_pct``
(max deviation from the mean phase current), all taken from the feature vector where
``gridtwin.physics.symmetrical`` computed them. ``imbalance_class`` by VUF band
(EN 50160 limit 2 %, up to 3 % in some networks; NEMA MG-1 motor derating above 1 %):
balanced < 1 %, minor 1–2 %, moderate 2–3 %, severe ≥ 3 %.

Model: a decision tree (run by ONNX Runtime) trained on the simulator's labelled unbalance causes (none,
phase_concentrated_load, open_phase, unbalanced_pv, sensor_fault) from scale-free
descriptors (:mod:`gridtwin.models._monitoring.imbalance_features`). ``critical_phase`` is
named by the cause's physics (see :func:`critical_phase`).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.models._monitoring.imbalance_features import (
    INPUT_COLUMNS,
    cause_descriptors,
    critical_phase,
    three_phase_current,
)
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2

#: VUF band edges (%) and class names: EN 50160 (2 %, 3 %) and NEMA MG-1 (1 %).
VUF_BANDS_PCT = (1.0, 2.0, 3.0)
CLASSES = ("balanced", "minor", "moderate", "severe")
_SEVERITY = (assessment_pb2.NORMAL, assessment_pb2.ADVISORY, assessment_pb2.WARNING, assessment_pb2.CRITICAL)


def imbalance_class_index(vuf_pct: np.ndarray) -> np.ndarray:
    """0..3 = balanced < 1 % ≤ minor < 2 % ≤ moderate < 3 % ≤ severe (VUF, %)."""
    return np.searchsorted(np.asarray(VUF_BANDS_PCT), nan_to_num(vuf_pct), side="right")


class Model(ServedModel):
    name = "phase_imbalance"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.tree = OnnxModel(entry.artifact("model"))
        self.classes = np.asarray(json.loads(entry.artifact("params").read_text())["classes"], str)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.PhaseImbalance]:
        n = len(batch)
        if n == 0:
            return []
        x = batch.columns(INPUT_COLUMNS)
        exact = batch.columns(["vuf_pct", "lvur_pct", "pvur_pct", "current_unbalance_pct"])
        proba = self.tree.run_one(cause_descriptors(x), "probabilities").astype(float)
        best = np.argmax(proba, axis=1)
        cause = self.classes[best]
        confidence = proba[np.arange(n), best]
        phase = critical_phase(x, cause)
        assessable = three_phase_current(x)
        band = imbalance_class_index(exact[:, 0])
        out = []
        for k in range(n):
            vuf, lvur, pvur, iunb = (float(v) for v in nan_to_num(exact[k]))
            severity = _SEVERITY[band[k]]
            detail = "VUF/LVUR from magnitudes assuming 120° spacing (meters report no angles)"
            if assessable[k]:
                if cause[k] == "open_phase":
                    severity = max(severity, assessment_pb2.WARNING)
                info = self.info(severity, detail)
                out.append(
                    assessment_pb2.PhaseImbalance(
                        info=info,
                        vuf_pct=vuf,
                        lvur_pct=lvur,
                        pvur_pct=pvur,
                        current_unbalance_pct=iunb,
                        imbalance_class=CLASSES[band[k]],
                        likely_cause=str(cause[k]),
                        critical_phase=str(phase[k]),
                        cause_confidence=float(confidence[k]),
                    )
                )
            else:
                info = self.info(
                    severity,
                    detail + "; cause not assessed: fewer than two phases carry "
                    "current (single-phase or unloaded meter)",
                    status=assessment_pb2.DEGRADED,
                )
                out.append(
                    assessment_pb2.PhaseImbalance(
                        info=info,
                        vuf_pct=vuf,
                        lvur_pct=lvur,
                        pvur_pct=pvur,
                        current_unbalance_pct=iunb,
                        imbalance_class=CLASSES[band[k]],
                    )
                )
        return out
