"""2.4 Voltage sag — Random Forests: cause, final depth and duration of a sag in progress, and
the probability of a sag in the next hour.

Labels from the simulator's RMS events (`sag_events.parquet`, each event injected by its
physics) and their half-cycle RMS traces (`event_traces.parquet`): the inputs are the serving
features of the trace readings while the voltage is below 0.9 pu; the labels are the event's
cause, its final minimum residual voltage at that meter (`depth_pu`) and its duration
(`duration_s`). The IEEE 1159 category is computed exactly from the predicted depth and
duration (`gridtwin.physics.limits`). Next-hour probability: any timeline sag (< 0.9 pu) at
the meter within 60 min of a 1-min reading, scored by Brier score against climatology.
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import brier_score_loss, confusion_matrix, roc_auc_score
from sklearn.model_selection import GroupKFold

from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._maintenance.common import impute
from gridtwin.models._maintenance.sag import (
    CONDITION_COLUMNS,
    SAG_COLUMNS,
    SAG_DESIGN_NAMES,
    SAG_THRESHOLD_PU,
    anchored_estimates,
    sag_design,
)
from gridtwin.physics.limits import ieee1159_category
from training.context import Metric, TrainContext, TrainResult
from training.models._maintenance.common import (
    confusion_plot,
    latency_sample,
    medians,
    reading_features,
    save_plot,
)
from training.onnx_export import sklearn_to_onnx, write_params
from training.spec import TrainingSpec
from training.split import split_by_time

HORIZON = pd.Timedelta(minutes=60)
#: The full profile's depth forest, not cross-validated: its grid (max_depth 10 or 16, leaves
#: ≥ 8) scored identically to every digit in the published run (−0.032052 pu both), i.e. its
#: absolute-error trees stop before depth 10, and its CV fits were the slowest of the model.
DEPTH_FOREST_FULL = {"max_depth": 10, "min_samples_leaf": 8}


def _trace_rows(ctx: TrainContext, feeder: str, max_events: int | None) -> pd.DataFrame:
    """Features of in-sag trace readings joined to their event labels."""
    tr = ctx.table("event_traces", feeder)
    ev = ctx.table("sag_events", feeder)
    if max_events is not None:
        keep = np.sort(ev.event_id.unique())
        if len(keep) > max_events:
            keep = np.sort(ctx.rng.choice(keep, size=max_events, replace=False))
        tr = tr[tr.event_id.isin(keep)]
    # features only where needed: the in-sag readings and the 10 before them (the history the
    # rolling features see); the rest of each 4-s trace is pre-/post-event steady state
    vmin = tr[["voltage_a", "voltage_b", "voltage_c"]].min(axis=1).to_numpy() / tr.nominal_voltage.to_numpy()
    tr = tr.assign(_in=vmin < SAG_THRESHOLD_PU, _k=tr.groupby(["event_id", "meter_id"]).cumcount())
    first = tr[tr._in].groupby(["event_id", "meter_id"])._k.min().rename("_first")
    last = tr[tr._in].groupby(["event_id", "meter_id"])._k.max().rename("_last")
    tr = tr.join(first, on=["event_id", "meter_id"], how="inner").join(last, on=["event_id", "meter_id"])
    tr = tr[(tr._k >= tr._first - 10) & (tr._k <= tr._last)].drop(columns=["_in", "_k", "_first", "_last"])
    meter = tr.meter_id.to_numpy()
    # one series per (event, meter): history must not run across independent events
    tr = tr.assign(meter_id=tr.meter_id + "#" + tr.event_id.astype(str), base_meter=meter)
    feats = features_from_dataframe(tr.drop(columns=["event_id", "base_meter"]).reset_index(drop=True))
    feats = feats.reset_index(drop=True)
    key = tr[["meter_id", "timestamp", "event_id", "base_meter"]].reset_index(drop=True)
    df = feats.merge(key, on=["meter_id", "timestamp"], how="left")
    df = df[df.voltage_min_pu < SAG_THRESHOLD_PU]
    # at most 25 evenly spaced in-sag readings per trace: long outages add rows, not information
    pos = df.groupby("meter_id").cumcount().to_numpy()
    size = df.groupby("meter_id").meter_id.transform("size").to_numpy()
    stride = np.maximum(size // 25, 1)
    df = df[(pos % stride) == 0]
    lab = ev[
        [
            "event_id",
            "meter_id",
            "cause",
            "depth_pu",
            "duration_s",
            "time_below_0_9pu_s",
            "start",
            "on_timeline",
        ]
    ].rename(columns={"meter_id": "base_meter"})
    return df.merge(lab, on=["event_id", "base_meter"], how="inner").reset_index(drop=True)


def _hour_labels(ctx: TrainContext, feeder: str, step: int) -> tuple[pd.DataFrame, np.ndarray]:
    """1-min readings (every `step`-th per meter) with the label: a timeline sag < 0.9 pu at the
    meter within the next 60 min."""
    feats = reading_features(ctx, feeder)
    feats = feats[feats.groupby("meter_id").cumcount().to_numpy() % step == 0].reset_index(drop=True)
    ev = ctx.table("sag_events", feeder)
    ev = ev[ev.on_timeline & (ev.depth_pu < SAG_THRESHOLD_PU)]
    y = np.zeros(len(feats), bool)
    t = feats.timestamp.astype("int64").to_numpy()
    meter = feats.meter_id.to_numpy()
    for m, g in ev.groupby("meter_id"):
        rows = np.flatnonzero(meter == m)
        starts = np.sort(g.start.astype("int64").to_numpy())
        pos = np.searchsorted(starts, t[rows], side="right")
        ok = pos < len(starts)
        nxt = starts[np.minimum(pos, len(starts) - 1)]
        y[rows] = ok & ((nxt - t[rows]) <= HORIZON.value)
    return feats, y


def _cv_forest(make, x, y, groups, w, score, grid, n_splits) -> tuple[dict, dict]:
    """Grouped K-fold CV (groups = events) over `grid`; returns (scores, best params)."""
    gkf = GroupKFold(n_splits=n_splits)
    scores = {}
    for params in grid:
        vals = []
        for a, b in gkf.split(x, y, groups):
            m = make(**params).fit(x[a], y[a], sample_weight=w[a])
            vals.append(score(m, x[b], y[b], w[b]))
        scores[str(params)] = float(np.mean(vals))
    best = max(grid, key=lambda p: scores[str(p)])
    return scores, best


def _acc_score(m, xb, yb, wb):
    return float(np.average(m.predict(xb) == yb, weights=wb))


def _mae_score(m, xb, yb, wb):  # depth increment: the same error as on the depth itself
    return -float(np.average(np.abs(m.predict(xb) - yb), weights=wb))


def _brier(m, xb, yb, wb):
    p = m.predict_proba(xb)
    p1 = p[:, list(m.classes_).index(1)] if 1 in m.classes_ else np.zeros(len(xb))
    return -brier_score_loss(yb, p1)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _trace_weights(df: pd.DataFrame) -> np.ndarray:
    """Every (event, meter) trace weighs the same: long outages must not dominate."""
    trace_id = df.event_id.astype(str) + "#" + df.base_meter
    return 1.0 / trace_id.map(trace_id.value_counts()).to_numpy(float)


class Spec(TrainingSpec):
    """Three forests on in-sag trace readings (cause, depth increment, duration), grouped CV by
    event; a fourth on 1-min conditions for the next-hour probability."""

    name = "voltage_sag"

    def data(self) -> None:
        ctx = self.ctx
        self.t0 = time.perf_counter()
        self.n_trees = 30 if ctx.quick else 50
        self.frame = _trace_rows(ctx, "train", None if ctx.quick else 800)
        self.hf, hy = _hour_labels(ctx, "train", 2 if ctx.quick else 5)
        self.hy = hy.astype(np.int64)  # 0/1 classes: the ONNX export needs integer or string labels

    def features(self) -> None:
        df = self.frame
        self.x_raw = sag_design(df[list(SAG_COLUMNS)].to_numpy(float))
        self.w = _trace_weights(df)
        self.y_cause = df.cause.to_numpy()
        # targets relative to the observation: the depth forest learns how much deeper the sag
        # will go (≤ 0) than the reading's lowest phase, the duration forest log(final / so far),
        # so "observed so far" is their starting point, not a rival
        self.vmin_now = df.voltage_min_pu.to_numpy(float)
        uv = df.undervoltage_duration_s.to_numpy(float)  # the serving input, same definition
        self.so_far = np.where(uv > 0, uv, np.nan)
        self.y_reg = np.column_stack(
            [df.depth_pu.to_numpy() - self.vmin_now, np.log(df.duration_s.to_numpy() / self.so_far)]
        )
        self.frame = df = df[np.isfinite(self.y_reg).all(axis=1)].reset_index(drop=True)
        keep = np.isfinite(self.y_reg).all(axis=1)
        self.x_raw, self.w, self.y_cause = self.x_raw[keep], self.w[keep], self.y_cause[keep]
        self.vmin_now, self.so_far, self.y_reg = self.vmin_now[keep], self.so_far[keep], self.y_reg[keep]
        self.hx_raw = self.hf[list(CONDITION_COLUMNS)].to_numpy(float)

    def split(self) -> None:
        """Events by start time (time blocks); next-hour rows by time and meter, 60-min embargo."""
        ev_time = self.frame.groupby("event_id").start.transform("first")
        self.parts = split_by_time(ev_time, None, embargo=pd.Timedelta(seconds=10), seed=self.ctx.seed)
        self.hsplit = split_by_time(self.hf.timestamp, self.hf.meter_id, embargo=HORIZON, seed=self.ctx.seed)

    def clf(self, n_estimators: int | None = None, **p) -> RandomForestClassifier:
        return RandomForestClassifier(
            n_estimators=n_estimators or self.n_trees, n_jobs=self.ctx.n_jobs, random_state=self.ctx.seed, **p
        )

    def reg(self, n_estimators: int | None = None, **p) -> RandomForestRegressor:
        return RandomForestRegressor(
            n_estimators=n_estimators or self.n_trees, n_jobs=self.ctx.n_jobs, random_state=self.ctx.seed, **p
        )

    def reg_mae(self, **p) -> RandomForestRegressor:
        """Separate forests: a joint one splits on the log-duration variance, which dwarfs the
        depth increments (measured: depth MAE 6.9 % vs 1.9 % for "depth so far"); and the depth
        forest splits on absolute error (leaf medians): a fault's sag may or may not end in a fuse
        operation (outage, depth 0) — a coin the reading cannot see — and the mean of that bimodal
        outcome is worse in MAE than both modes (measured: MAE 7.0 % vs 1.7 %) (its cost grows
        fast with rows: each tree sees at most 8,000)."""
        return self.reg(criterion="absolute_error", max_samples=min(0.5, 8000 / len(self.tr)), **p)

    def fit(self) -> None:
        ctx, df, split = self.ctx, self.frame, self.parts
        self.fill = medians(self.x_raw[split.train])
        self.x = x = impute(self.x_raw, self.fill)
        self.tr = tr = np.flatnonzero(split.train)
        grid = (
            [{"max_depth": 14, "min_samples_leaf": leaf} for leaf in (2, 8)]
            if ctx.quick
            else [{"max_depth": d, "min_samples_leaf": 8} for d in (10, 16)]
        )
        self.folds = folds = 3 if ctx.quick else 5  # the quick profile's 20-s budget
        # CV on at most 300 training events with 20-tree forests (the 2-min full budget); the
        # chosen settings are then fitted on every training event
        ev_tr = np.unique(df.event_id.to_numpy()[tr])
        ev_cv = ev_tr if len(ev_tr) <= 300 else ctx.rng.choice(ev_tr, 300, replace=False)
        cvr = tr[np.isin(df.event_id.to_numpy()[tr], ev_cv)]
        groups, w, y_reg = df.event_id.to_numpy()[cvr], self.w, self.y_reg
        self.cv_n = {"n_estimators": min(self.n_trees, 20)}
        grid_cv = [{**self.cv_n, **g} for g in grid]
        self.cv_c, best_c = _cv_forest(
            self.clf, x[cvr], self.y_cause[cvr], groups, w[cvr], _acc_score, grid_cv, folds
        )
        if ctx.quick:
            self.cv_r, best_r = _cv_forest(
                self.reg_mae, x[cvr], y_reg[cvr, 0], groups, w[cvr], _mae_score, grid_cv, folds
            )
        else:  # the full grid's two depths gave the same trees (see DEPTH_FOREST_FULL)
            best_r = {**self.cv_n, **DEPTH_FOREST_FULL}
            self.cv_r = {"not cross-validated": "max_depth 10 and 16 scored identically (same trees)"}
        self.cv_t, best_t = _cv_forest(
            self.reg, x[cvr], y_reg[cvr, 1], groups, w[cvr], _mae_score, grid_cv, folds
        )
        self.best_c, self.best_r, self.best_t = (
            {k: v for k, v in b.items() if k != "n_estimators"} for b in (best_c, best_r, best_t)
        )
        self.m_cause = self.clf(**self.best_c).fit(x[tr], self.y_cause[tr], sample_weight=w[tr])
        self.m_reg = self.reg_mae(**self.best_r).fit(x[tr], y_reg[tr, 0], sample_weight=w[tr])
        self.m_dur = self.reg(**self.best_t).fit(x[tr], y_reg[tr, 1], sample_weight=w[tr])
        self.classes = np.array(self.m_cause.classes_)
        self._fit_anchor()
        self._fit_hour()

    def _fit_anchor(self) -> None:
        """How far the served estimate may move from the observation (λ_d, λ_t ∈ [0, 1]):
        chosen on the validation events only (the forests never saw them), by the same errors
        the test reports. The largest interval the forests were trained on bounds where they
        apply (`anchored_estimates`)."""
        va = np.flatnonzero(self.parts.val)
        inc, ratio = self.m_reg.predict(self.x[va]), self.m_dur.predict(self.x[va])
        grid = np.linspace(0.0, 1.0, 11)
        w, vmin, dt = self.w[va], self.vmin_now[va], self.frame.dt_s.to_numpy(float)
        true_depth, true_log = (
            self.frame.depth_pu.to_numpy()[va],
            np.log(self.frame.duration_s.to_numpy()[va]),
        )
        dep = [
            np.average(np.abs(np.clip(vmin + g * np.minimum(inc, 0), 0, 1) - true_depth), weights=w)
            for g in grid
        ]
        dur = [np.average(np.abs(np.log(self.so_far[va]) + g * ratio - true_log), weights=w) for g in grid]
        self.anchor = {
            "lambda_depth": float(grid[int(np.argmin(dep))]),
            "lambda_duration": float(grid[int(np.argmin(dur))]),
            "trace_interval_s": float(np.nanmax(dt[self.tr])),
            "median_log_duration_s": float(np.median(true_log)),
            "duration_ratio_log": self._below_ratio(va),
        }
        self.anchor_cv = {
            "depth_mae_pu": dict(zip(grid.round(1).tolist(), dep, strict=True)),
            "duration_mae_log": dict(zip(grid.round(1).tolist(), dur, strict=True)),
        }

    def _below_ratio(self, va: np.ndarray) -> float:
        """Median log(total time below 0.9 pu / time below so far) on the validation events: the
        served duration's scale-free correction where the forests were not trained (IEEE 1159's
        duration is the time below the threshold, which is what a slow reading can follow)."""
        below = self.frame.time_below_0_9pu_s.to_numpy(float)[va]
        ok = below > 0
        if not ok.any():
            return 0.0
        return _weighted_median(np.log(below[ok] / self.so_far[va][ok]), self.w[va][ok])

    def _fit_hour(self) -> None:
        """Next-hour probability from conditions. Depth 1 with huge leaves is close to
        climatology: CV may prefer it when conditions carry no information about the next
        hour's sags. Folds are grouped by 6-h block so they do not share the same hour of labels."""
        ctx, hf, hy = self.ctx, self.hf, self.hy
        self.hfill = medians(self.hx_raw[self.hsplit.train])
        self.hx = hx = impute(self.hx_raw, self.hfill)
        self.htr = htr = np.flatnonzero(self.hsplit.train)
        cap = 15000 if ctx.quick else 40000
        sub = htr if len(htr) <= cap else np.sort(ctx.rng.choice(htr, cap, replace=False))
        hgrid = (
            [{"max_depth": d, "min_samples_leaf": leaf} for d, leaf in ((1, 2000), (3, 500), (6, 500))]
            if ctx.quick
            else [{"max_depth": d, "min_samples_leaf": leaf} for d, leaf in ((1, 5000), (3, 1000), (6, 1000))]
        )
        hgroups = hf.timestamp.dt.floor("6h").astype("int64").to_numpy()[sub]
        n_groups = len(np.unique(hgroups))
        self.cv_h, best_h = _cv_forest(
            self.clf,
            hx[sub],
            hy[sub],
            hgroups,
            np.ones(len(sub)),
            _brier,
            [{**self.cv_n, **g} for g in hgrid],
            min(self.folds, n_groups),
        )
        self.best_h = {k: v for k, v in best_h.items() if k != "n_estimators"}
        self.m_hour = self.clf(**self.best_h).fit(hx[sub], hy[sub])
        self.hour_pos = list(self.m_hour.classes_).index(1) if 1 in self.m_hour.classes_ else -1

    def export(self) -> None:
        """One ONNX graph per forest (served by ONNX Runtime) + the imputation medians and names."""
        ctx, x, hx = self.ctx, self.x, self.hx
        artifacts = {
            key: sklearn_to_onnx(m, n_in, ctx.path(f"voltage_sag_{key}.onnx"))
            for key, m, n_in in (
                ("cause", self.m_cause, x.shape[1]),
                ("depth", self.m_reg, x.shape[1]),
                ("duration", self.m_dur, x.shape[1]),
                ("hour", self.m_hour, hx.shape[1]),
            )
        }
        artifacts["params"] = write_params(
            ctx.path("voltage_sag_params.json"),
            {
                "fill": self.fill,
                "hour_fill": self.hfill,
                "classes": self.classes.astype(str),
                "hour_pos": self.hour_pos,
                "climatology": float(self.hy[self.htr].mean()),
                **self.anchor,
            },
        )
        self.artifacts = artifacts

    def evaluate(self) -> None:
        """Held-out events (last 15 % of time), the next-hour test, the other feeder's events."""
        df, x, w, y_cause, tr = self.frame, self.x, self.w, self.y_cause, self.tr
        self.te = te = np.flatnonzero(self.parts.test)
        pc = self.classes[self.m_cause.predict_proba(x[te]).argmax(1)]
        v = self.v = {"acc": float(np.average(pc == y_cause[te], weights=w[te]))}
        v["major"] = major = pd.Series(y_cause[tr]).value_counts().index[0]
        v["acc_base"] = float(np.average(y_cause[te] == major, weights=w[te]))
        dt = df.dt_s.to_numpy(float)[te]
        self.depth_pred, dur_pred = anchored_estimates(
            self.vmin_now[te],
            self.so_far[te],
            dt,
            self.m_reg.predict(x[te]),
            self.m_dur.predict(x[te]),
            self.anchor,
        )
        depth_pred = self.depth_pred
        self.depth_true = depth_true = df.depth_pu.to_numpy()[te]
        v["mae_depth"] = float(np.average(np.abs(depth_pred - depth_true) * 100, weights=w[te]))
        so_far = self.x_raw[te, SAG_COLUMNS.index("voltage_min_pu")]
        v["mae_depth_base"] = float(np.average(np.abs(so_far - depth_true) * 100, weights=w[te]))
        dur_true = df.duration_s.to_numpy()[te]
        v["mae_dur"] = float(np.average(np.abs(dur_pred - dur_true), weights=w[te]))
        v["mae_dur_base"] = float(
            np.average(np.abs(np.exp(self.anchor["median_log_duration_s"]) - dur_true), weights=w[te])
        )
        v["dur_dec"] = float(np.average(np.abs(np.log10(dur_pred / dur_true)), weights=w[te]))
        v["dur_dec_base"] = float(np.average(np.abs(np.log10(self.so_far[te] / dur_true)), weights=w[te]))
        f0 = df.nominal_frequency_hz.to_numpy()[te]
        cat_pred = ieee1159_category(depth_pred, dur_pred, f0)
        cat_true = ieee1159_category(depth_true, dur_true, f0)
        v["cat_acc"] = float(np.average(cat_pred == cat_true, weights=w[te]))
        self.labels = sorted(set(y_cause))
        self.cm = confusion_matrix(y_cause[te], pc, labels=self.labels)
        self._evaluate_hour()
        self._evaluate_other_feeder()
        self.metrics = self._metrics()

    def _evaluate_hour(self) -> None:
        hy, v = self.hy, self.v
        self.hte = hte = np.flatnonzero(self.hsplit.test)
        hx = self.hx
        self.p_hour = p_hour = (
            self.m_hour.predict_proba(hx[hte])[:, self.hour_pos] if self.hour_pos >= 0 else np.zeros(len(hte))
        )
        v["clim"] = clim = float(hy[self.htr].mean())
        v["bs"] = float(brier_score_loss(hy[hte], p_hour))
        v["bs_clim"] = float(brier_score_loss(hy[hte], np.full(len(hte), clim)))
        v["auc_hour"] = (
            float(roc_auc_score(hy[hte], p_hour)) if 0 < hy[hte].sum() < len(hte) else float("nan")
        )

    def _evaluate_other_feeder(self) -> None:
        """Generalisation: the other feeder's events."""
        gdf = _trace_rows(self.ctx, "test", None if self.ctx.quick else 300)
        gx = impute(sag_design(gdf[list(SAG_COLUMNS)].to_numpy(float)), self.fill)
        gw = _trace_weights(gdf)
        pred = self.classes[self.m_cause.predict_proba(gx).argmax(1)]
        self.v["gacc"] = float(np.average(pred == gdf.cause.to_numpy(), weights=gw))
        gvmin = gdf.voltage_min_pu.to_numpy(float)
        guv = gdf.undervoltage_duration_s.to_numpy(float)
        gdepth, _ = anchored_estimates(
            gvmin,
            np.where(guv > 0, guv, np.nan),
            gdf.dt_s.to_numpy(float),
            self.m_reg.predict(gx),
            self.m_dur.predict(gx),
            self.anchor,
        )
        self.v["gmae"] = float(np.average(np.abs(gdepth - gdf.depth_pu.to_numpy()) * 100, weights=gw))

    def _metrics(self) -> list[Metric]:
        v = self.v
        return [
            Metric("cause_accuracy", v["acc"], v["acc_base"], f"majority class ({v['major']})", ">= 0.90"),
            Metric(
                "depth_mae_pct_nominal",
                v["mae_depth"],
                v["mae_depth_base"],
                "depth observed so far",
                "<= 3.0",
                False,
            ),
            Metric("duration_mae_s", v["mae_dur"], v["mae_dur_base"], "training median duration", "", False),
            Metric(
                "duration_log10_error_decades", v["dur_dec"], v["dur_dec_base"], "duration so far", "", False
            ),
            Metric("ieee1159_category_accuracy", v["cat_acc"], None, "", ""),
            Metric("next_hour_brier", v["bs"], v["bs_clim"], "climatology", f"< {v['bs_clim']:.6f}", False),
            Metric("generalisation_cause_accuracy", v["gacc"], None, "other feeder", ""),
        ]

    def _plots(self) -> tuple[str, str, str]:
        ctx, p_hour, clim = self.ctx, self.p_hour, self.v["clim"]
        f_cm = confusion_plot(ctx, self.cm, self.labels, "cause, in-sag readings of test events", "confusion")
        fig, axs = plt.subplots(1, 2, figsize=(8, 3.2))
        axs[0].scatter(self.depth_true, self.depth_pred, s=3, alpha=0.4)
        axs[0].plot([0, 1], [0, 1], "k:")
        axs[0].set_xlabel("true final depth (pu)")
        axs[0].set_ylabel("predicted (pu)")
        imp = pd.Series(self.m_cause.feature_importances_, index=SAG_DESIGN_NAMES).sort_values().tail(10)
        axs[1].barh(imp.index, imp.values)
        axs[1].tick_params(labelsize=7)
        axs[1].set_title("cause RF: impurity importance", fontsize=9)
        f_dep = save_plot(ctx, fig, "depth_importance")
        fig, ax = plt.subplots(figsize=(4, 3.5))
        bins = np.linspace(0, max(p_hour.max(), clim) + 1e-9, 8)
        idx = np.digitize(p_hour, bins)
        mp = [p_hour[idx == k].mean() for k in np.unique(idx)]
        mo = [self.hy[self.hte][idx == k].mean() for k in np.unique(idx)]
        ax.plot(mp, mo, "o-")
        ax.plot([0, max(mp + mo)], [0, max(mp + mo)], "k:")
        ax.set_xlabel("predicted P(sag within 1 h)")
        ax.set_ylabel("observed frequency")
        return f_cm, f_dep, save_plot(ctx, fig, "calibration")

    def _body(self, f_cm: str, f_dep: str, f_cal: str) -> str:
        v, df, te = self.v, self.frame, self.te
        return f"""
### Sag in progress (test: events in the last 15 % of time; each (event, meter) trace weighted equally)
| | RF | naive baseline |
|---|---|---|
| cause accuracy | {v["acc"]:.3f} | {v["acc_base"]:.3f} (majority class `{v["major"]}`) |
| final depth MAE (% of nominal) | {v["mae_depth"]:.2f} | {v["mae_depth_base"]:.2f} (depth observed so far) |
| duration MAE (s) | {v["mae_dur"]:.3f} | {v["mae_dur_base"]:.3f} (training median) |
| duration error, mean abs log10 (decades) | {v["dur_dec"]:.3f} | {v["dur_dec_base"]:.3f} (duration so far) |
| IEEE 1159 category (from predicted depth, duration) | {v["cat_acc"]:.3f} | – |

In-sag readings: train {len(self.tr)}, test {len(te)} from {df.event_id[te].nunique()} events.
Other feeder (`{self.ctx.feeder_dir("test").name}`): cause accuracy {v["gacc"]:.3f}, depth MAE {v["gmae"]:.2f} %.

![confusion]({f_cm})

![depth and importance]({f_dep})

### Next-hour probability (1-min readings, held-out meters, last 15 %, 60-min embargo)
Brier {v["bs"]:.5f} vs climatology {v["bs_clim"]:.5f} (base rate {v["clim"]:.4f}); ROC AUC {v["auc_hour"]:.3f}.

![calibration]({f_cal})

### Cross-validation ({self.folds}-fold grouped by event, training part)
- cause (weighted accuracy): {self.cv_c}
- final depth (−MAE of the depth increment, pu): {self.cv_r}
- duration (−MAE of log(final / so far)): {self.cv_t}
- anchoring on the validation events (λ: share of the forests' correction kept; 0 = the
  observation): {self.anchor}; errors per λ: {self.anchor_cv}
- next hour (−Brier, grouped by 6-h block): {self.cv_h}
"""

    def _notes(self) -> str:
        v = self.v
        acc, mae_depth, bs, bs_clim = v["acc"], v["mae_depth"], v["bs"], v["bs_clim"]
        return (
            "Four RFs, served by ONNX Runtime (exported with skl2onnx). In progress = any phase < 0.9 pu on the "
            "reading (IEEE 1159 magnitude band; the cause, final depth and duration are learned from the simulator's "
            "events). Inputs are the serving features of half-cycle RMS trace readings (history within the event "
            "trace). Classes include `upstream_reclose` (momentary interruption from the MV recloser), which the "
            "simulator produces; the proto comment lists three causes. Category is exact from predicted "
            f"depth/duration. Cause accuracy {acc:.3f} (goal 0.90: {'met' if acc >= 0.9 else 'MISSED'}), depth MAE "
            f"{mae_depth:.2f} % (goal ≤ 3: {'met' if mae_depth <= 3 else 'MISSED'}). Next-hour Brier {bs:.5f} vs "
            f"climatology {bs_clim:.5f} ({'better' if bs < bs_clim else 'NOT better'}): timeline sags are "
            "scenario-driven (voltage_sag blocks) and the 1-min reading carries little about them. These figures "
            "are on half-cycle (10 ms) traces; served readings arrive at 1 min or slower, where a sag shorter than "
            "the reading interval is not seen at all (docs/models/heldout.md measures the served cadences). "
            "Served depth and duration start from the observation (lowest phase; time below 0.9 pu so far): the "
            f"forests' corrections apply only up to the interval they were trained on ({self.anchor['trace_interval_s']:.3g} s), "
            f"with shares λ_d = {self.anchor['lambda_depth']:.1f}, λ_t = {self.anchor['lambda_duration']:.1f} chosen on "
            "validation events; a slower reading's depth is its lowest phase and its duration the time so far × "
            f"{np.exp(self.anchor['duration_ratio_log']):.2f} (the validation events' median total / so-far time below "
            "0.9 pu)."
        )

    def report(self) -> TrainResult:
        f_cm, f_dep, f_cal = self._plots()
        df = self.frame
        rows = df[list(FEATURE_NAMES)].to_numpy(float)[self.te]
        return TrainResult(
            algorithm="random forest x4 (cause, final-depth increment, log duration, next-hour sag) (ONNX Runtime)",
            artifacts=self.artifacts,
            features=sorted(set(SAG_COLUMNS) | set(CONDITION_COLUMNS)),
            metrics=self.metrics,
            hyperparameters={
                "cause": self.best_c,
                "depth": self.best_r,
                "duration": self.best_t,
                "next_hour": self.best_h,
                "n_estimators": self.n_trees,
            },
            training_data={
                "tables": "event_traces + sag_events; readings for next hour",
                "in_sag_rows": int(len(df)),
                "events": int(df.event_id.nunique()),
                "hour_rows": int(len(self.hf)),
                "seconds": round(time.perf_counter() - self.t0, 1),
            },
            split={
                "in_progress": {**self.parts.describe(), "unit": "events by start time"},
                "next_hour": {**self.hsplit.describe(), "embargo_minutes": 60},
            },
            cross_validation={
                "folds": self.folds,
                "cause": self.cv_c,
                "depth": self.cv_r,
                "duration": self.cv_t,
                "next_hour": self.cv_h,
            },
            report_md=self._body(f_cm, f_dep, f_cal),
            notes=self._notes(),
            latency_rows=latency_sample(rows, self.ctx),
        )
