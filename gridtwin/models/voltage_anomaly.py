"""1.1 Voltage anomaly: the standards' events + an isolation forest on meter-relative descriptors.

Two parts, each doing what it is good at:

* **The standards** (:mod:`gridtwin.models._monitoring.voltage_rules`): interruptions, open
  phases, sags, swells and sustained under/over-voltage (IEEE 1159 Table 2, EN 50160 U_n ±10 %)
  are flagged by their definitions, relative to the meter's own nominal. Physics, not a
  learned label.
* **The isolation forest** (Liu, Ting & Zhou 2008; served through ONNX Runtime) judges what
  stays inside the band against the meter's *own* normal: z-scores against its 2-h baseline,
  the spread between phases, the step from its 10-min mean and its 10-min spread
  (:mod:`gridtwin.models._monitoring.voltage_features`). Fitted unlabelled; the score
  threshold is the training feeder's normal readings' (1 − false-alarm budget) quantile.

Outcomes per reading:

* ``anomaly_detected`` = a standard's event, or the forest's score ≥ threshold on a meter
  with a baseline. A meter without a baseline yet (new, or back after a long gap) is judged by
  the standards alone, and the detail says so.
* A **frozen sensor** (≥ ``FROZEN_RUN`` previous readings identical to this one in every
  measured quantity) is its own outcome: not a voltage anomaly (``anomaly_detected`` false),
  ADVISORY, detail ``frozen_sensor: …``, attribution ``identical_readings_run``.
* ``anomaly_score`` ∈ [−1, 1], positive = anomalous: 1 for a standard's event; else the
  forest's score s = 2^(−E[h]/c) mapped piecewise-linearly with the threshold at 0; −1 when
  the forest was not applied (no baseline, or frozen).
* ``outlier_features``: for an event, the phases outside the band (value − 1 pu); for the
  forest, the three descriptors farthest from their training median in robust units.
* Severity: CRITICAL for an interruption, an open phase, or any phase outside EN 50160's
  +10 %/−15 %; WARNING outside ±10 %; ADVISORY for a forest anomaly or a frozen sensor.
"""

from __future__ import annotations

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.models._monitoring.voltage_features import (
    DESCRIPTOR_NAMES,
    INPUT_COLUMNS,
    has_baseline,
    impute_windows,
    voltage_descriptors,
)
from gridtwin.models._monitoring.voltage_rules import EVENTS, RULE_COLUMNS, voltage_events
from gridtwin.physics.limits import ieee1159_category
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2

TOP_FEATURES = 3
#: Previous identical readings that make a frozen sensor (4 identical readings in a row).
FROZEN_RUN = 3
_PHASE_COLUMNS = ("voltage_a_pu", "voltage_b_pu", "voltage_c_pu")
_NO_BASELINE = (
    "no baseline for this meter yet (needs 10 min and 5 readings inside U_n ± 10 %): "
    "judged by the EN 50160 / IEEE 1159 rules only"
)


def map_score(s: np.ndarray, threshold: float) -> np.ndarray:
    """Isolation score s ∈ (0, 1] → [−1, 1] with the threshold at 0 (monotone)."""
    return np.where(s >= threshold, (s - threshold) / (1.0 - threshold), (s - threshold) / threshold)


def forest_scores(session: OnnxModel, denominator: float, d: np.ndarray) -> np.ndarray:
    """s = 2^(−Σh / (n_trees · c(ψ))) ∈ (0, 1] from the ONNX graph's ``path_length_sum``
    (one TreeEnsembleRegressor: each tree's leaf holds its path length h, summed over trees;
    s equals −scikit-learn's ``score_samples``)."""
    total = session.run(d.astype(np.float32))["path_length_sum"].reshape(-1).astype(float)
    return 2.0 ** (-total / denominator)


class Model(ServedModel):
    name = "voltage_anomaly"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.session = OnnxModel(entry.artifact("forest"))
        with np.load(entry.artifact("model"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        self.denominator = float(arrays["denominator"][0])
        self.threshold = float(arrays["score_threshold"][0])
        self.median = np.asarray(arrays["median"], float)
        self.scale = np.asarray(arrays["scale"], float)
        self.names = np.asarray(DESCRIPTOR_NAMES)

    def scores(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(forest score s or NaN where not applied, descriptors, baseline mask) of feature
        columns ``INPUT_COLUMNS``."""
        d = voltage_descriptors(x)
        ok = has_baseline(x)
        s = np.full(len(d), np.nan)
        if ok.any():
            s[ok] = forest_scores(self.session, self.denominator, impute_windows(d[ok], self.median))
        return s, d, ok

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.VoltageAnomaly]:
        n = len(batch)
        if n == 0:
            return []
        rules = voltage_events(batch.columns(RULE_COLUMNS))
        frozen = nan_to_num(batch.column("identical_readings_run")) >= FROZEN_RUN
        s, d, ok = self.scores(batch.columns(INPUT_COLUMNS))
        applied = ok & ~frozen & ~rules.detected
        forest_hit = applied & (nan_to_num(s, nan=0.0) >= self.threshold)
        detected = rules.detected | forest_hit
        score = np.where(
            rules.detected, 1.0, np.where(applied, map_score(nan_to_num(s, nan=0.0), self.threshold), -1.0)
        )
        severity = np.select(
            [
                rules.outside_always | (rules.event == 1) | (rules.event == 2),
                rules.outside_10pct,
                forest_hit | frozen,
            ],
            [assessment_pb2.CRITICAL, assessment_pb2.WARNING, assessment_pb2.ADVISORY],
            default=assessment_pb2.NORMAL,
        )
        vph = batch.columns(_PHASE_COLUMNS)
        dur = np.maximum(batch.column("undervoltage_duration_s"), batch.column("overvoltage_duration_s"))
        magnitude = np.where(vph.min(axis=1) < 0.9, vph.min(axis=1), vph.max(axis=1))
        category = ieee1159_category(magnitude, dur, batch.column("nominal_frequency_hz"))
        outside = (vph < 0.9) | (vph > 1.1)
        z = (impute_windows(d, self.median) - self.median) / self.scale
        top = np.argsort(-np.abs(nan_to_num(z)), axis=1)[:, :TOP_FEATURES]
        run = batch.column("identical_readings_run")
        span = batch.column("identical_readings_span_s")
        out = []
        for k in range(n):
            attributions: list[tuple[str, float]]
            if rules.detected[k]:
                bad = np.flatnonzero(outside[k])
                detail = (
                    f"{EVENTS[rules.event[k]]}: phase(s) {', '.join('abc'[j] for j in bad)} at "
                    f"{magnitude[k]:.3f} pu of U_n for ≥ {dur[k]:.0f} s (IEEE 1159: {category[k]})"
                )
                attributions = [(_PHASE_COLUMNS[j], float(vph[k, j] - 1.0)) for j in bad]
            elif frozen[k]:
                detail = (
                    f"frozen_sensor: {int(run[k])} previous readings identical in every quantity over "
                    f"{span[k]:.0f} s; not a voltage measurement, not scored"
                )
                attributions = [("identical_readings_run", float(run[k]))]
            elif not ok[k]:
                detail = _NO_BASELINE
                attributions = []
            else:
                detail = "outside this meter's own normal (isolation forest)" if forest_hit[k] else ""
                attributions = [(str(self.names[j]), float(z[k, j])) for j in top[k]]
            out.append(
                assessment_pb2.VoltageAnomaly(
                    info=self.info(int(severity[k]), detail),
                    anomaly_detected=bool(detected[k]),
                    anomaly_score=float(score[k]),
                    outlier_features=[
                        assessment_pb2.FeatureAttribution(feature=f, contribution=c) for f, c in attributions
                    ],
                )
            )
        return out
