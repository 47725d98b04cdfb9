"""3.1 Load forecast (Prophet + LSTM + ridge lag ensemble), served by numpy and ONNX Runtime (the LSTM).

Per meter, Redis (this model's state store: `<prefix>load_forecast:{meter}:acc` and `:fc`) keeps
the 15-min load history (sum and count per 15-min interval, updated
atomically with HINCRBYFLOAT/HINCRBY, so replicas can share a meter; beside them, what each
refresh saw of the interval in progress, for the replay of that origin) and a cached forecast made
from the last complete interval. `prepare` adds the batch's readings and refreshes a meter's
forecast when a newer interval has completed (once per 15 min of reading time); `predict`
only formats the cached forecast. The load of a reading is `active_power_total_w` (sum of the
phases, W). Horizons count from the end of the last complete interval.

Intervals (gridtwin.core.intervals): a reading's timestamp is the end of the span it measures
(an AMI 15-min average is stamped at its interval's end, IEC 61000-4-30 §4.5, DLMS/COSEM load
profiles), so interval k holds the readings with k·15 min < t ≤ (k+1)·15 min, and interval k
is complete once a reading with t ≥ (k+1)·15 min has arrived: a 15-min reading stamped 10:15
completes 10:00-10:15, and the 15-min horizon is then 10:15-10:30.

Cold start: with at least 8 days of history the full ensemble answers; from 25 h the one-day
lag model answers (status OK, the detail says so, its own intervals and MAPE); below that the
answer is DEGRADED with no numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from gridtwin.core.intervals import interval_of, last_complete
from gridtwin.forecast.features import fill_gaps
from gridtwin.forecast.meter_errors import Choice, candidates, choose
from gridtwin.forecast.persistence import load as load_forecaster
from gridtwin.forecast.track import Track, robust_scale
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2

HORIZON_MINUTES = (15, 60, 1440)
MAX_INTERPOLATE = 4  # missing 15-min intervals filled linearly (longer: from a week/day before)
IDLE_TTL_S = 10 * 86400
BACKTEST_DAYS = 3  # recent origins replayed per refresh to score the meter's own errors


class Model(ServedModel):
    name = "load_forecast"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        self.fm = load_forecaster(
            npz=entry.artifact("weights"),
            meta=entry.artifact("meta"),
            lstm=entry.artifact("lstm") if "lstm" in entry.manifest["artifacts"] else None,
        )
        meta = json.loads(entry.artifact("meta").read_text())
        served = meta.get("served", {})
        self.step_s = int(round(self.fm.cfg.step_minutes * 60))
        self.day = self.fm.cfg.day
        self.h_idx = [self.fm.cfg.horizons.index(int(round(m * 60 / self.step_s))) for m in HORIZON_MINUTES]
        self.mape_pct = float(served.get("mape_mean_pct", float("nan")))
        self.short_mape_pct = float(
            np.nanmean(
                np.asarray(self.fm.validation.get("mape_per_horizon", {}).get("short", [np.nan]), float)
            )
        )
        self.keep = self.fm.min_history + 4 * self.day  # intervals kept per meter
        self.col = "active_power_total_w"
        if self.fm.cfg.holiday_country:
            # meters carry no country or zone: a holiday calendar cannot be served per meter
            raise ValueError(
                "the served load_forecast cannot use a holiday calendar (meters carry no country)"
            )

    # ---- state in Redis ----------------------------------------------------------------
    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        def keys(meter: str) -> tuple[str, str]:
            return state.key(meter, "acc"), state.key(meter, "fc")

        loads = batch.column(self.col) if self.col in batch.feature_names else np.full(len(batch), np.nan)
        origins: dict[str, int] = {}  # per meter: the last complete interval by its latest reading
        pipe = state.pipeline()
        for reading, load in zip(batch.readings, loads, strict=True):
            sec, nanos = reading.timestamp.seconds, reading.timestamp.nanos
            if sec * 1_000_000_000 + nanos <= 0 or not math.isfinite(load) or not reading.meter_id:
                continue
            # the timestamp ends the span the reading measures: 10:15:00 is in 10:00-10:15
            b = interval_of(sec, nanos, self.step_s)
            acc, _ = keys(reading.meter_id)
            pipe.hincrbyfloat(acc, f"{b}:s", float(load))
            pipe.hincrby(acc, f"{b}:n", 1)
            pipe.expire(acc, IDLE_TTL_S)
            done = last_complete(sec, nanos, self.step_s)
            origins[reading.meter_id] = max(origins.get(reading.meter_id, done), done)
        meters = list(origins)
        for m in meters:
            pipe.get(keys(m)[1])
        results = await pipe.execute() if len(pipe) else []
        cached = results[len(results) - len(meters) :] if meters else []
        out: dict[str, dict[str, Any]] = {}
        stale = []
        for m, raw in zip(meters, cached, strict=True):
            fc = json.loads(raw) if raw else None
            if fc is not None and fc.get("origin") == origins[m] and fc.get("version") == self.version:
                out[m] = fc
            else:
                stale.append(m)
        if stale:
            pipe = state.pipeline()
            for m in stale:
                pipe.hgetall(keys(m)[0])
            histories = await pipe.execute()
            pipe = state.pipeline()
            for m, h in zip(stale, histories, strict=True):
                origin = origins[m]
                fc = self.forecast(h, origin)
                out[m] = fc
                acc, key = keys(m)
                pipe.set(key, json.dumps(fc), ex=IDLE_TTL_S)
                # what this forecast saw of the interval in progress, for the replay of its origin
                now_s, now_n = _field(h, f"{origin + 1}:s"), _field(h, f"{origin + 1}:n")
                if now_n:
                    pipe.hset(acc, mapping={f"{origin + 1}:ls": now_s, f"{origin + 1}:ln": now_n})
                old = [
                    f
                    for f in h
                    if int((f.decode() if isinstance(f, bytes) else f).split(":")[0]) < origin - self.keep
                ]
                if old:
                    pipe.hdel(acc, *old)
            await pipe.execute()
        batch.context[self.name] = out

    # ---- forecasting (numpy + the LSTM's ONNX graph) -------------------------------------------------------------
    def history(self, fields: dict, origin: int) -> tuple[np.ndarray, np.ndarray]:
        """Interval means up to `origin` (inclusive), NaN where no reading arrived, and beside
        each interval the mean of the readings of the next one (then in progress) recorded when
        that interval's forecast was made (NaN where none was recorded)."""
        kinds = interval_fields(fields)
        sums, counts = kinds.get("s", {}), kinds.get("n", {})
        first = max(min(sums, default=origin + 1), origin - self.keep + 1)
        n = max(0, origin - first + 1)
        latest = interval_means(kinds.get("ls", {}), kinds.get("ln", {}), first + 1, n)
        latest[-1:] = interval_means(sums, counts, origin + 1, 1)[: len(latest)]  # in progress now
        return interval_means(sums, counts, first, n), latest

    def forecast(self, fields: dict, origin: int) -> dict[str, Any]:
        y, latest = self.history(fields, origin)
        fc: dict[str, Any] = {"origin": origin, "version": self.version, "points": []}
        finite = np.isfinite(y)
        start = int(np.argmax(finite)) if finite.any() else len(y)
        y, latest = y[start:], latest[start:]  # from the first observed interval
        n = len(y)
        need_short, need_full = self.fm.min_history_short, self.fm.min_history
        if n < need_short:
            fc["status"] = "cold"
            fc["detail"] = (
                f"cold start: {n} of the {need_short} complete 15-min intervals "
                f"({need_short * self.step_s / 3600:.0f} h) the forecast needs"
            )
            return fc
        missing = ~np.isfinite(y)
        y = fill_gaps(y, self.day, MAX_INTERPOLATE) if missing.any() else y
        short = n < need_full
        kept = need_short + 4 * self.day if short else need_full + 4 * self.day
        y, latest = y[-kept:], latest[-kept:]
        first = origin - len(y) + 1
        scale = robust_scale(y)
        slot, dow = utc_calendar(first, len(y) + self.fm.cfg.max_h, self.step_s)
        track = Track(z=y / scale, slot=slot, dow=dow, abs0=first, scale=scale)
        if self.fm.cfg.yearly_order:
            track.doy = utc_day_of_year(first, len(y) + self.fm.cfg.max_h, self.step_s)
        # the meter's recent origins (replayed with data up to each) and the current one last;
        # the model answers from its minimum history on, the naives on the whole window
        origins = np.arange(max(0, len(y) - 1 - BACKTEST_DAYS * self.day), len(y))
        lo = (self.fm.min_history_short if short else self.fm.min_history) - 1
        answered = origins[origins >= lo]
        f = self.fm.predict(track, answered, short=short)
        steps = [self.fm.cfg.horizons[j] for j in self.h_idx]
        model_pts = np.full((len(origins), len(steps)), np.nan)
        model_pts[origins >= lo] = f.point[:, self.h_idx] * scale
        cands = candidates(y, origins, model_pts, latest[origins], steps, self.day)
        now = {k: v[-1] for k, v in cands.items()}
        backtest = {k: v[:-1] for k, v in cands.items()}
        chosen = choose(y, origins[:-1], backtest, now, steps, self.fm.cfg.level, scale)
        chosen = [c or self._prior(k, short, now, f, scale) for k, c in enumerate(chosen)]
        self._fill(fc, chosen, short)
        gaps = float(missing[-len(y) :].mean()) if missing.any() else 0.0
        notes = []
        if short:
            notes.append(f"short history ({n} intervals < {need_full}): one-day lag model")
        notes.append(self._describe(chosen))
        if gaps > 0:
            notes.append(f"{gaps:.0%} of the history filled")
        fc["detail"] = "; ".join(notes)
        return fc

    def _prior(self, k: int, short: bool, now: dict, f, scale: float) -> Choice:
        """Served horizon k before the meter has MIN_RESIDUALS scored origins there: the forecast
        with the lowest MAPE on the training validation block (the model, persistence, daily or
        weekly naive, as recorded at training), with the model's conformal bounds and that
        validation MAPE."""
        j = self.h_idx[k]
        val = self.fm.validation.get("mape_per_horizon", {})
        names = {
            "short" if short else "ensemble": "model",
            "persistence": "persistence",
            "daily_naive": "daily naive",
        }
        if not short:
            names["naive"] = "weekly naive"
        scores = {
            src: float(val[key][j]) for key, src in names.items() if key in val and np.isfinite(val[key][j])
        }
        source = min(scores, key=scores.get) if scores else "model"
        point = float(now[source][k])
        half = float(f.upper[-1, j] - f.point[-1, j]) * scale
        default = self.short_mape_pct if short else self.mape_pct
        return Choice(source, point, half, scores.get(source, default), 0)

    def _fill(self, fc: dict, chosen: list[Choice], short: bool) -> None:
        for m, c in zip(HORIZON_MINUTES, chosen, strict=True):
            fc["points"].append([m, c.point, c.point - c.half_width, c.point + c.half_width])
        mapes = [c.mape_pct for c in chosen]
        fc["status"] = "short" if short else "ok"
        fc["mape"] = float(np.nanmean(mapes)) if np.isfinite(mapes).any() else self.mape_pct
        fc["sources"] = [c.source for c in chosen]

    @staticmethod
    def _describe(chosen: list[Choice]) -> str:
        parts = [
            f"{m} min {c.source} ({c.mape_pct:.1f} % on {c.n} recent)"
            if c.n
            else f"{m} min {c.source} (too few recent: training validation {c.mape_pct:.1f} %, model's interval)"
            for m, c in zip(HORIZON_MINUTES, chosen, strict=True)
        ]
        return "per meter, lowest recent MAPE answers, interval from its own residuals: " + ", ".join(parts)

    # ---- answers --------------------------------------------------------------------------
    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.LoadForecast]:
        state = batch.context.get(self.name)
        level = self.fm.cfg.level
        out = []
        for reading in batch.readings:
            fc = state.get(reading.meter_id) if state is not None else None
            if fc is None or not fc.get("points"):
                detail = (
                    fc["detail"]
                    if fc is not None
                    else "no per-meter load history (Redis state not prepared or reading without timestamp/load)"
                )
                info = self.info(detail=detail, status=assessment_pb2.DEGRADED)
                out.append(assessment_pb2.LoadForecast(info=info, confidence_level=level))
                continue
            out.append(
                assessment_pb2.LoadForecast(
                    info=self.info(detail=fc.get("detail", "")),
                    forecasted_load=[
                        assessment_pb2.ForecastPoint(horizon_minutes=int(m), load_w=p, lower_w=lo, upper_w=hi)
                        for m, p, lo, hi in fc["points"]
                    ],
                    confidence_level=level,
                    mape_pct=fc.get("mape", self.mape_pct),
                )
            )
        return out


def _field(fields: dict, name: str) -> float:
    """One hash field as a float (0 when absent), whatever the client's decoding."""
    v = fields.get(name, fields.get(name.encode()))
    return float(v) if v is not None else 0.0


def interval_fields(fields: dict) -> dict[str, dict[int, float]]:
    """The meter's hash fields `<interval>:<kind>` as {kind: {interval: value}} (kinds: s/n the
    sum and count of readings, ls/ln those of the interval then in progress when the forecast
    from the interval before it was made)."""
    out: dict[str, dict[int, float]] = {}
    for k, v in fields.items():
        key = k.decode() if isinstance(k, bytes) else k
        b, _, kind = key.partition(":")
        out.setdefault(kind, {})[int(b)] = float(v)
    return out


def interval_means(sums: dict[int, float], counts: dict[int, float], first: int, n: int) -> np.ndarray:
    """(n,) mean reading of intervals first..first+n-1, NaN where none arrived."""
    out = np.full(n, np.nan)
    for b, s in sums.items():
        if first <= b < first + n and counts.get(b, 0) > 0:
            out[b - first] = s / counts[b]
    return out


def utc_calendar(first_interval: int, n: int, step_s: int) -> tuple[np.ndarray, np.ndarray]:
    """Slot of the day and day of week (Monday = 0) in UTC of intervals first..first+n-1
    (integer arithmetic: no pandas in the serving process; 1970-01-01 was a Thursday)."""
    t = (first_interval + np.arange(n, dtype=np.int64)) * step_s
    return (t % 86400) // step_s, (t // 86400 + 3) % 7


def utc_day_of_year(first_interval: int, n: int, step_s: int) -> np.ndarray:
    """Fractional day of the year (0 = 1 January 00:00 UTC) of intervals first..first+n-1."""
    t = ((first_interval + np.arange(n, dtype=np.int64)) * step_s).astype("datetime64[s]")
    return (t - t.astype("datetime64[Y]")).astype(np.int64) / 86400.0
