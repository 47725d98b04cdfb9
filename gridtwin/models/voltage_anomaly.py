"""1.1 Voltage anomaly: an isolation forest on voltage descriptors.

The 15 descriptors are in :mod:`gridtwin.models._monitoring.voltage_features`; training picks
the subset the forest uses (the seed's 15, or a subset that measured better on validation).

Unsupervised (Liu, Ting & Zhou 2008): fitted on unlabelled readings; the simulator's labels
only chose the score threshold on the validation block and measure the result.

* ``anomaly_score`` ∈ [−1, 1]: the forest's score s = 2^(−E[h(x)]/c(ψ)) ∈ (0, 1] mapped
  piecewise-linearly so that the detection threshold τ maps to 0: (s − τ)/(1 − τ) above τ,
  (s − τ)/τ below. Positive = anomalous.
* ``anomaly_detected`` = s ≥ τ. When validation showed the union with EN 50160 to be better
  (recorded in the manifest), a reading outside U_n ± 10 % gets s = 1 (anomalous by the
  standard's definition); inside the band the forest decides.
* ``outlier_features``: the three descriptors farthest from their training median in robust
  standard units ((x − median) / (1.4826·MAD) of the signed-log descriptor), signed, over all
  15 descriptors (what is unusual, whichever subset the forest uses).
* Severity: CRITICAL when any phase leaves EN 50160's +10 %/−15 % band, WARNING outside ±10 %,
  ADVISORY for an anomaly inside the band, NORMAL otherwise.
"""

from __future__ import annotations

import numpy as np

from gridtwin.models._monitoring.trees import load_packed
from gridtwin.models._monitoring.voltage_features import DESCRIPTOR_NAMES, INPUT_COLUMNS, voltage_descriptors
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModuleBatch, ServedModel
from gridtwin.v1 import assessment_pb2

TOP_FEATURES = 3


def map_score(s: np.ndarray, threshold: float) -> np.ndarray:
    """Isolation score s ∈ (0, 1] → [−1, 1] with the threshold at 0 (monotone)."""
    return np.where(s >= threshold, (s - threshold) / (1.0 - threshold), (s - threshold) / threshold)


class Model(ServedModel):
    name = "voltage_anomaly"

    def __init__(self, entry: RegistryEntry) -> None:
        super().__init__(entry)
        with np.load(entry.artifact("model"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        self.forest = load_packed(arrays)
        self.c_norm = float(arrays["c_norm"][0])
        self.threshold = float(arrays["score_threshold"][0])
        self.median = np.asarray(arrays["median"], float)
        self.scale = np.asarray(arrays["scale"], float)
        self.names = np.asarray(DESCRIPTOR_NAMES)
        # The descriptor subset the forest was fitted on (chosen on validation data).
        self.columns = np.asarray(arrays["columns"], dtype=np.int64)
        # Union with the EN 50160 band when that measured better on validation data.
        self.with_band = bool(np.asarray(arrays["with_en50160"]).reshape(-1)[0])

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.VoltageAnomaly]:
        n = len(batch)
        if n == 0:
            return []
        d = voltage_descriptors(batch.columns(INPUT_COLUMNS))
        s = 2.0 ** (-self.forest.mean_value(d[:, self.columns])[:, 0] / self.c_norm)
        if self.with_band:
            s = np.where(batch.column("en50160_voltage_within_10pct") < 0.5, 1.0, s)
        score = map_score(s, self.threshold)
        detected = s >= self.threshold
        z = (d - self.median) / self.scale
        top = np.argsort(-np.abs(z), axis=1)[:, :TOP_FEATURES]
        vmin, vmax = batch.column("voltage_min_pu"), batch.column("voltage_max_pu")
        outside_always = (vmin < 0.85) | (vmax > 1.10)
        outside_10 = (vmin < 0.90) | (vmax > 1.10)
        severity = np.where(
            outside_always,
            assessment_pb2.CRITICAL,
            np.where(
                outside_10,
                assessment_pb2.WARNING,
                np.where(detected, assessment_pb2.ADVISORY, assessment_pb2.NORMAL),
            ),
        )
        first = np.nan_to_num(batch.column("history_count")) < 1
        out = []
        for k in range(n):
            detail = "first reading of this meter: rates unknown, scored as no change" if first[k] else ""
            out.append(
                assessment_pb2.VoltageAnomaly(
                    info=self.info(int(severity[k]), detail),
                    anomaly_detected=bool(detected[k]),
                    anomaly_score=float(score[k]),
                    outlier_features=[
                        assessment_pb2.FeatureAttribution(
                            feature=str(self.names[j]), contribution=float(z[k, j])
                        )
                        for j in top[k]
                    ],
                )
            )
        return out
