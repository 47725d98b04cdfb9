"""2.4 Voltage sag — Random Forests (served by ONNX Runtime, `gridtwin.serving.runtime`).

Every reading gets `sag_probability` (next hour, from conditions). A reading with any phase
below 0.9 pu is a sag (or interruption) in progress: the cause classifier and the
depth/duration forests correct the observation (the reading's lowest phase and the run's
duration so far) where they were trained (`_maintenance.sag.anchored_estimates`); the IEEE 1159
category is computed exactly from the estimated final depth and duration
(`gridtwin.physics.limits.ieee1159_category`).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.features.nominal import nominal_frequency_or_inferred_hz
from gridtwin.models._maintenance.common import impute
from gridtwin.models._maintenance.sag import (
    CONDITION_COLUMNS,
    SAG_COLUMNS,
    SAG_THRESHOLD_PU,
    anchored_estimates,
    sag_design,
)
from gridtwin.physics.limits import ieee1159_category
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2 as pb


class Model(ServedModel):
    name = "voltage_sag"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.cause, self.depth, self.duration, self.hour = (
            OnnxModel(entry.artifact(key)) for key in ("cause", "depth", "duration", "hour")
        )
        params = json.loads(entry.artifact("params").read_text())
        self.fill = np.asarray(params["fill"], float)
        self.hour_fill = np.asarray(params["hour_fill"], float)
        self.classes = np.asarray(params["classes"], str)
        self.hour_pos = int(params["hour_pos"])
        self.anchor = {
            k: float(params[k])
            for k in (
                "lambda_depth",
                "lambda_duration",
                "trace_interval_s",
                "median_log_duration_s",
                "duration_ratio_log",
            )
        }

    def predict(self, batch: ModuleBatch) -> list[pb.VoltageSag]:
        n = len(batch)
        hx = impute(batch.columns(CONDITION_COLUMNS), self.hour_fill)
        p_hour = (
            self.hour.run_one(hx, "probabilities")[:, self.hour_pos].astype(float)
            if self.hour_pos >= 0
            else np.zeros(n)
        )
        src = batch.columns(SAG_COLUMNS)
        vmin = src[:, SAG_COLUMNS.index("voltage_min_pu")]
        active = np.isfinite(vmin) & (vmin < SAG_THRESHOLD_PU)
        cause = np.full(n, "", dtype=object)
        conf = np.zeros(n)
        depth = np.zeros(n)
        dur = np.zeros(n)
        cat = np.full(n, "", dtype=object)
        if active.any():
            x = impute(sag_design(src[active]), self.fill)
            proba = self.cause.run_one(x, "probabilities").astype(float)
            k = proba.argmax(1)
            cause[active] = self.classes[k]
            conf[active] = proba[np.arange(len(k)), k]
            col = {name: src[active, j] for j, name in enumerate(SAG_COLUMNS)}
            depth[active], dur[active] = anchored_estimates(
                vmin[active],
                col["undervoltage_duration_s"],
                col["dt_s"],
                self.depth.run_one(x)[:, 0].astype(float),
                self.duration.run_one(x)[:, 0].astype(float),
                self.anchor,
            )
            f0 = nominal_frequency_or_inferred_hz(
                batch.column("nominal_frequency_hz")[active], batch.column("frequency_hz")[active]
            )
            cat[active] = ieee1159_category(depth[active], dur[active], f0)
        out = []
        for i in range(n):
            if active[i]:
                sev = pb.CRITICAL if depth[i] < 0.1 else pb.WARNING if depth[i] < 0.7 else pb.ADVISORY
                detail = f"sag in progress; cause confidence {conf[i]:.2f}"
                out.append(
                    pb.VoltageSag(
                        info=self.info(sev, detail),
                        sag_probability=float(p_hour[i]),
                        sag_in_progress=True,
                        likely_cause=str(cause[i]),
                        expected_sag_depth_pu=float(depth[i]),
                        expected_duration_s=float(dur[i]),
                        ieee1159_category=str(cat[i]),
                    )
                )
            else:
                sev = pb.ADVISORY if p_hour[i] >= 0.5 else pb.NORMAL
                out.append(
                    pb.VoltageSag(
                        info=self.info(
                            sev,
                            "no sag in progress (all phases ≥ 0.9 pu): cause, depth and duration "
                            "not applicable",
                        ),
                        sag_probability=float(p_hour[i]),
                        sag_in_progress=False,
                    )
                )
        return out
