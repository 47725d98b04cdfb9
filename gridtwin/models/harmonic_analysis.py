"""1.2 Harmonic analysis: exact THD by FFT (IEC 61000-4-7) + random forests.

* **Exact** (formula): when a reading carries a waveform (``Reading.waveform``) or reported
  harmonic magnitudes (``Reading.harmonics``), harmonic subgroups and THD (H = 40) per phase
  are computed with ``gridtwin.physics.harmonics``; the worst phase (largest THD) is reported.
* ``harmonic_level`` by THD band (EN 50160 LV limit 8 %; IEEE 519-2014 ≤ 1 kV: 8 % THD, 5 %
  individual): low < 3 % ≤ moderate < 5 % ≤ high < 8 % ≤ severe.
* **Source type** (random forest on the worst phase's spectrum descriptors): none /
  six_pulse_drive / smps_led / pv_inverter. With the phase's current waveform the forest uses
  voltage and current spectra; with voltage only (waveform without currents, or reported
  harmonics) a voltage-only forest answers (lower measured accuracy, see the model report).
* **Estimate**: with RMS data only, THD cannot be computed (standards.md); a regression forest
  estimates it from RMS features, flagged ``thd_is_estimate`` with status DEGRADED and its
  held-out error in ``info.detail``; the source type is then not assessed.
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.features.nominal import nominal_frequency_or_inferred_hz
from gridtwin.models._monitoring.harmonic_features import (
    magnitudes_to_pct,
    spectrum_descriptors,
    waveform_spectra_pct,
)
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2, reading_pb2

#: THD band edges (%) and names (EN 50160 8 % limit; IEEE 519-2014 LV: 5 % individual, 8 % THD).
THD_BANDS_PCT = (3.0, 5.0, 8.0)
LEVELS = ("low", "moderate", "high", "severe")
_SEVERITY = (assessment_pb2.NORMAL, assessment_pb2.ADVISORY, assessment_pb2.WARNING, assessment_pb2.CRITICAL)
#: The simulator's "background" (linear load, supply distortion only) is reported as "none".
SOURCE_NAMES = {"background": "none"}
_PHASES = ("a", "b", "c")


def thd_level_index(thd_pct: np.ndarray) -> np.ndarray:
    """0..3 = low < 3 % ≤ moderate < 5 % ≤ high < 8 % ≤ severe."""
    return np.searchsorted(np.asarray(THD_BANDS_PCT), nan_to_num(thd_pct), side="right")


def reading_spectrum(
    reading: reading_pb2.Reading, f1_hz: float
) -> tuple[np.ndarray, np.ndarray | None, float, str] | None:
    """(voltage % spectrum 2..40, current % spectrum or None, THD %, source) of the worst
    phase, or None when the reading has neither a waveform nor reported harmonics. A waveform
    is analysed only with a fundamental frequency ``f1_hz`` > 0 (measured or nominal): the
    IEC 61000-4-7 window is synchronised to it."""
    wf = reading.waveform
    volts = [np.asarray(getattr(wf, f"voltage_{p}"), float) for p in _PHASES]
    if wf.sample_rate_hz > 0 and f1_hz > 0 and any(len(v) for v in volts):
        phases = [k for k, v in enumerate(volts) if len(v)]
        length = min(len(volts[k]) for k in phases)
        pct, thd = waveform_spectra_pct(
            np.stack([volts[k][:length] for k in phases]), wf.sample_rate_hz, f1_hz
        )
        worst = int(np.nanargmax(np.where(np.isnan(thd), -1.0, thd)))
        cur = np.asarray(getattr(wf, f"current_{_PHASES[phases[worst]]}"), float)
        cur_pct = None
        if len(cur) >= length:
            ipct, _ = waveform_spectra_pct(cur[None, :length], wf.sample_rate_hz, f1_hz)
            cur_pct = ipct[0] if np.isfinite(ipct[0]).all() else None
        return pct[worst], cur_pct, float(thd[worst]), "waveform"
    hs = [np.asarray(getattr(reading.harmonics, f"voltage_{p}"), float) for p in _PHASES]
    if any(len(h) > 1 for h in hs):
        rows = [h for h in hs if len(h) > 1]
        width = max(len(h) for h in rows)
        mags = np.full((len(rows), width), np.nan)
        for k, h in enumerate(rows):
            mags[k, : len(h)] = h
        pct, thd = magnitudes_to_pct(mags)
        worst = int(np.nanargmax(np.where(np.isnan(thd), -1.0, thd)))
        return pct[worst], None, float(thd[worst]), "reported harmonics"
    return None


class Model(ServedModel):
    name = "harmonic_analysis"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        params = json.loads(entry.artifact("params").read_text())
        self.forest_vi = OnnxModel(entry.artifact("source_vi"))
        self.forest_v = OnnxModel(entry.artifact("source_v"))
        # the RMS-only THD estimator: a forest, or the training median when that validated better
        self.est_constant = params["est_constant"]
        self.estimator = OnnxModel(entry.artifact("thd_estimate")) if self.est_constant is None else None
        self.classes = np.array([SOURCE_NAMES.get(c, c) for c in params["classes"]])
        self.est_columns = [str(c) for c in params["est_columns"]]
        self.est_fill = np.asarray(params["est_fill"], float)
        metrics = entry.manifest.get("metrics", {})
        self.est_mae = metrics.get("thd_estimate_mae_pp", {}).get("value")

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.HarmonicAnalysis]:
        n = len(batch)
        if n == 0:
            return []
        f_meas = nan_to_num(batch.column("frequency_hz"))
        f_nom = nan_to_num(nominal_frequency_or_inferred_hz(batch.column("nominal_frequency_hz"), f_meas))
        # Window synchronised to the measured frequency when it is plausible, else the nominal.
        f1 = np.where((f_meas > 0.9 * f_nom) & (f_meas < 1.1 * f_nom), f_meas, f_nom)
        spectra = [reading_spectrum(r, float(f1[k])) for k, r in enumerate(batch.readings)]
        exact = [k for k, s in enumerate(spectra) if s is not None and np.isfinite(s[2])]
        proba = np.zeros((n, len(self.classes)))
        with_i = [k for k in exact if spectra[k][1] is not None]
        v_only = [k for k in exact if spectra[k][1] is None]
        if with_i:
            x = np.hstack(
                [
                    spectrum_descriptors(np.stack([spectra[k][0] for k in with_i])),
                    spectrum_descriptors(np.stack([spectra[k][1] for k in with_i])),
                ]
            )
            proba[with_i] = self.forest_vi.run_one(x, "probabilities")
        if v_only:
            proba[v_only] = self.forest_v.run_one(
                spectrum_descriptors(np.stack([spectra[k][0] for k in v_only])), "probabilities"
            )
        estimate = np.full(n, np.nan)
        missing = [k for k in range(n) if k not in set(exact)]
        if missing:
            x = batch.columns(self.est_columns)[missing]
            x = np.where(np.isfinite(x), x, self.est_fill)
            raw = (
                np.full(len(missing), float(self.est_constant))
                if self.estimator is None
                else self.estimator.run_one(x)[:, 0]
            )
            estimate[missing] = np.maximum(raw, 0.0)
        exact_set = set(exact)
        out = []
        for k in range(n):
            if k in exact_set:
                pct, _, thd, source = spectra[k]
                level = int(thd_level_index(np.array([thd]))[0])
                best = int(np.argmax(proba[k]))
                mags = nan_to_num(pct)
                dominant = (np.argsort(-mags)[:3] + 2).tolist()
                inputs = "voltage+current spectra" if spectra[k][1] is not None else "voltage spectrum only"
                out.append(
                    assessment_pb2.HarmonicAnalysis(
                        info=self.info(
                            _SEVERITY[level],
                            f"exact THD from {source} (IEC 61000-4-7, H=40); source from {inputs}",
                        ),
                        thd_voltage_pct=thd,
                        thd_is_estimate=False,
                        harmonic_level=LEVELS[level],
                        source_type=str(self.classes[best]),
                        source_confidence=float(proba[k, best]),
                        harmonic_magnitudes_pct=mags.tolist(),
                        dominant_orders=dominant,
                    )
                )
            else:
                level = int(thd_level_index(estimate[k : k + 1])[0])
                err = (
                    f"held-out MAE {self.est_mae:.2f} pp"
                    if self.est_mae is not None
                    else "error not measured"
                )
                info = self.info(
                    _SEVERITY[level],
                    f"estimate: no waveform or harmonics, THD estimated from RMS features ({err}); "
                    "source type needs a spectrum",
                    status=assessment_pb2.DEGRADED,
                )
                out.append(
                    assessment_pb2.HarmonicAnalysis(
                        info=info,
                        thd_voltage_pct=float(estimate[k]),
                        thd_is_estimate=True,
                        harmonic_level=LEVELS[level],
                    )
                )
        return out
