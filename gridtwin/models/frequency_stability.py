"""1.3 Frequency stability: an LSTM (64 → 32 units, 10 steps × 8 inputs) predicting the
frequency 5 s ahead, trained with Keras and served by ONNX Runtime (one session, whole batches).

Outputs:
* ``predicted_frequency_hz`` = f_0 + α(Δt)·Δ_LSTM (f_0 = this reading's frequency, Δ_LSTM the
  network's change over it, α ∈ [0, 1] the shrinkage chosen per reading cadence on the training
  generator's validation block, see ``_monitoring/frequency_shrinkage.py``; α = 1 when the
  registry entry has no ``params`` artifact); without any previous reading there is no sequence
  and persistence is returned, DEGRADED.
* ``rocof_hz_per_s``: Δf/Δt from the feature vector (real Δt between readings,
  standards.md ROCOF); 0 with DEGRADED detail when there is no previous reading.
* ``trend``: "rising"/"falling" when the predicted change exceeds ±10 mHz (10× the meter's
  frequency noise), else "stable".
* ``stability_score`` (0 = unstable … 100 = stable) = 100 · (1 − max(u_f, u_r)) with
  u_f = min(1, |f_pred − f_n| / (0.004·f_n)) — the ENTSO-E normal-operation band ±200 mHz at
  50 Hz — and u_r = min(1, |ROCOF| / (0.01·f_n per s)) — 0.5 Hz/s at 50 Hz, a common ROCOF
  relay setting.
* Severity: CRITICAL outside EN 50160's f_n ± 1 % (predicted or measured), WARNING outside
  ±0.4 % (±200 mHz at 50 Hz), ADVISORY when the score < 50, else NORMAL.
"""

from __future__ import annotations

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.features.nominal import nominal_frequency_or_inferred_hz
from gridtwin.models._monitoring.frequency_sequence import (
    DT_COLUMNS,
    FREQ_COLUMNS,
    SCALE_HZ,
    build_sequences,
)
from gridtwin.models._monitoring.frequency_shrinkage import PARAMS_ARTIFACT, Shrinkage
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2

TREND_THRESHOLD_HZ = 0.010
NORMAL_BAND_FRAC = 0.004  # ±200 mHz at 50 Hz (ENTSO-E CE normal operation)
EN50160_BAND_FRAC = 0.01  # ±1 % (EN 50160, interconnected, 99.5 % of a year)
ROCOF_LIMIT_FRAC_PER_S = 0.01  # 0.5 Hz/s at 50 Hz


def stability_score(f_pred: np.ndarray, f_nominal: np.ndarray, rocof: np.ndarray) -> np.ndarray:
    """0–100 score from the predicted deviation and the ROCOF (definition in the module doc)."""
    fn = np.where(f_nominal > 0, f_nominal, np.nan)
    u_f = np.minimum(1.0, np.abs(f_pred - fn) / (NORMAL_BAND_FRAC * fn))
    u_r = np.minimum(1.0, np.abs(rocof) / (ROCOF_LIMIT_FRAC_PER_S * fn))
    return 100.0 * (1.0 - np.maximum(u_f, u_r))


class Model(ServedModel):
    name = "frequency_stability"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.net = OnnxModel(entry.artifact("model"))  # input "sequence" (n, 10, 8), float32
        has_params = PARAMS_ARTIFACT in entry.manifest["artifacts"]
        self.shrinkage = Shrinkage.load(entry.artifact(PARAMS_ARTIFACT) if has_params else None)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.FrequencyStability]:
        n = len(batch)
        if n == 0:
            return []
        f_lags = batch.columns(FREQ_COLUMNS)
        dt_lags = batch.columns(DT_COLUMNS)
        f_now = batch.column("frequency_hz")
        fn = nominal_frequency_or_inferred_hz(batch.column("nominal_frequency_hz"), f_now)
        history = np.isfinite(f_lags[:, 1]) & (nan_to_num(dt_lags[:, 0]) > 0)
        valid = np.isfinite(f_now) & (f_now > 0)
        f_pred = np.where(valid, f_now, fn)
        run = history & valid
        alpha = self.shrinkage.alpha(dt_lags[:, 0])
        if run.any():
            x = build_sequences(f_lags[run], dt_lags[run], fn[run])
            f_pred[run] = f_now[run] + alpha[run] * self.net.run_one(x)[:, 0] / SCALE_HZ
        rocof = np.where(run, nan_to_num(batch.column("rocof_hz_per_s")), 0.0)
        score = nan_to_num(stability_score(f_pred, fn, rocof))
        change = f_pred - np.where(valid, f_now, fn)
        trend = np.where(
            change > TREND_THRESHOLD_HZ, "rising", np.where(change < -TREND_THRESHOLD_HZ, "falling", "stable")
        )
        dev = np.maximum(np.abs(f_pred - fn), np.abs(np.where(valid, f_now, fn) - fn)) / fn
        severity = np.where(
            dev > EN50160_BAND_FRAC,
            assessment_pb2.CRITICAL,
            np.where(
                dev > NORMAL_BAND_FRAC,
                assessment_pb2.WARNING,
                np.where(score < 50, assessment_pb2.ADVISORY, assessment_pb2.NORMAL),
            ),
        )
        out = []
        for k in range(n):
            if run[k]:
                info = self.info(int(severity[k]), f"LSTM 5 s ahead, correction × {alpha[k]:.2f}")
            else:
                why = "no frequency reading" if not valid[k] else "no previous reading of this meter"
                info = self.info(
                    int(severity[k]),
                    f"{why}: persistence returned, ROCOF unknown (0)",
                    status=assessment_pb2.DEGRADED,
                )
            out.append(
                assessment_pb2.FrequencyStability(
                    info=info,
                    predicted_frequency_hz=float(nan_to_num(f_pred[k])),
                    stability_score=float(score[k]),
                    trend=str(trend[k]),
                    rocof_hz_per_s=float(rocof[k]),
                )
            )
        return out
