"""3.4 Demand response: K-Means segment of a meter's load profile, DR potential, programme.

Per-meter profile state lives in Redis (this model's state store: `<prefix>demand_response:{meter}`,
a hash updated atomically by `gridtwin.decision.profile.LUA_UPDATE` in `prepare`, one round trip
per batch on a single Redis, one per hash slot on a cluster). A meter is
answered with status DEGRADED and no segment until every dark-window hour has been observed
once (cold start), or when the profile state could not be read. A meter whose DR potential is below
`ModelConfig.min_dr_potential_kw` (0.5 kW by default) gets the programme "none" (no action).
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.core.intervals import interval_of
from gridtwin.core.numeric import nan_to_num
from gridtwin.decision.profile import (
    BUCKET_S,
    DARK_HOURS,
    FEATURE_NAMES,
    HOURS,
    LUA_UPDATE,
    MIN_DARK_BUCKETS,
    ProfileCache,
    profile_features,
)
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2

_PEAK = FEATURE_NAMES.index("peak_kw")
_MEAN_DARK = FEATURE_NAMES.index("mean_dark_kw")


def nearest_centroid(z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) of each standardised row: K-Means' own
    `predict`. Served in numpy, not ONNX: the fitted model is just k centroids, and one
    (n, k) distance matrix costs less than an ONNX Runtime call. Rows with NaN get 0 (the
    caller answers them as not ready)."""
    d2 = ((z[:, None, :] - centroids[None]) ** 2).sum(axis=2)
    return np.argmin(nan_to_num(d2, nan=np.inf), axis=1)


class Model(ServedModel):
    name = "demand_response"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        spec = json.loads(entry.artifact("model").read_text())
        self.cols = np.array(spec["feature_index"], int)
        self.mean = np.array(spec["scaler_mean"], float)
        self.scale = np.array(spec["scaler_scale"], float)
        self.centroids = np.array(spec["centroids_z"], float)
        self.segments = list(spec["segments"])
        self.programs = dict(spec["programs"])
        self.cache = ProfileCache()

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        """Add each reading to its meter's profile and fetch the updated aggregates."""
        if len(batch) == 0:
            return
        p = batch.column("active_power_total_w")
        q = batch.column("reactive_power_total_var")
        args: list[tuple[int, float, float, str]] = []
        keys = []
        meters = batch.meter_ids
        # A meter repeated in the batch must get a full copy after its first occurrence changes.
        seen: set[str] = set()
        for i, r in enumerate(batch.readings):
            bucket = interval_of(r.timestamp.seconds, r.timestamp.nanos, BUCKET_S)
            keys.append(state.key(r.meter_id))
            cached = "" if r.meter_id in seen else self.cache.cached_prev(r.meter_id)
            seen.add(r.meter_id)
            args.append((bucket, float(nan_to_num(p[i])), float(nan_to_num(q[i])), cached))
        replies = await state.run_batch_script(LUA_UPDATE, keys, args)
        batch.context[self.name] = np.stack(
            [self.cache.resolve(m, rep) for m, rep in zip(meters, replies, strict=True)]
        )

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.DemandResponse]:
        n = len(batch)
        aggs = batch.context.get(self.name)
        if aggs is None or len(aggs) != n:
            return [self._degraded("no load-profile state: Redis profile not available for this request")] * n
        feats, _ = profile_features(aggs)
        ready = ~np.isnan(feats).any(axis=1)
        out: list[assessment_pb2.DemandResponse] = []
        z = (feats[:, self.cols] - self.mean) / self.scale
        cluster = nearest_centroid(z, self.centroids)
        potential = np.maximum(feats[:, _PEAK] - feats[:, _MEAN_DARK], 0.0)
        dark_counts = aggs[:, [2 * HOURS + h for h in DARK_HOURS]]
        for i in range(n):
            if not ready[i]:
                seen = int(np.minimum(dark_counts[i], MIN_DARK_BUCKETS).sum())
                need = MIN_DARK_BUCKETS * len(DARK_HOURS)
                out.append(
                    self._degraded(
                        f"cold start: {seen}/{need} dark-window 15-min buckets (21:00-03:00 UTC) observed; "
                        "segment needs one full night of readings"
                    )
                )
                continue
            seg = self.segments[cluster[i]]
            detail = "dr_potential_kw = peak 15-min demand above the dark-window mean"
            program = self.programs[seg]
            if potential[i] < self.config.min_dr_potential_kw:
                # Too little to shift for any programme to be worth enrolling (materiality).
                detail = (
                    f"no action: DR potential {potential[i]:.2f} kW is below the "
                    f"{self.config.min_dr_potential_kw:g} kW threshold; {detail}"
                )
                program = "none"
            out.append(
                assessment_pb2.DemandResponse(
                    info=self.info(assessment_pb2.NORMAL, detail),
                    customer_segment=seg,
                    dr_potential_kw=float(potential[i]),
                    recommended_program=program,
                )
            )
        return out

    def _degraded(self, detail: str) -> assessment_pb2.DemandResponse:
        return assessment_pb2.DemandResponse(info=self.info(detail=detail, status=assessment_pb2.DEGRADED))
