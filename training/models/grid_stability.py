"""Train 4.3 grid stability: soft-voting ensemble of random forest, XGBoost and logistic regression.

Label: `instability.unstable_within_15min` from the simulator: within the next 15 minutes the
meter's true voltage leaves the EN 50160 band (−15 %/+10 %), its supply is lost by a fuse
operation, or the frequency leaves ±1 % — outcomes of the power flow and protection physics,
not thresholds of the current reading's features.

Inputs: raw reading features (`gridtwin.decision.stability.RAW_FEATURES`) plus upstream model
outputs (`UPSTREAM`) when they can be computed for the training rows (see notes). Split: time
blocks 70/15/15 with a 15-min embargo and a meter hold-out; 5-fold blocked-time CV on the
training part picks the RF leaf size and the XGBoost depth. Negatives are subsampled for
speed and the probabilities prior-corrected; the averaged probability is then calibrated
(isotonic) on the validation part when it holds enough positives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.ensemble import RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, precision_recall_curve, roc_auc_score, roc_curve

from gridtwin.decision.stability import RAW_FEATURES
from gridtwin.features.frame import features_from_dataframe
from gridtwin.features.schema import FEATURE_NAMES as SCHEMA_FEATURES
from gridtwin.features.schema import SCHEMA_VERSION
from training.context import Metric, TrainContext, TrainResult
from training.onnx_export import sklearn_to_onnx, write_params, xgboost_to_onnx
from training.reporting import md_table, save_barh, save_xy
from training.spec import TrainingSpec
from training.split import split_by_time
from training.upstream import run_upstream, upstream_registry

NAME = "grid_stability"
LABEL = "unstable_within_15min"
#: The reading's own state (unstable now): persistence's forecast, and what an onset is not.
NOW = "unstable"
NEG_KEEP = {"quick": 4000, "full": 15000}


def frame(ctx: TrainContext, feeder: str) -> pd.DataFrame:
    readings = ctx.table("readings", feeder)
    feats = features_from_dataframe(readings)
    lab = ctx.table("instability", feeder)[["meter_id", "timestamp", LABEL, NOW]]
    df = feats[["meter_id", "timestamp", *SCHEMA_FEATURES]].merge(
        lab, on=["meter_id", "timestamp"], how="inner"
    )
    return df.sort_values("timestamp", kind="stable").reset_index(drop=True)


def prior_correct(p: np.ndarray, keep_rate: float) -> np.ndarray:
    """Undo negative subsampling at rate `keep_rate` (Elkan 2001): p' = r·p / (r·p + 1 − p)."""
    return keep_rate * p / (keep_rate * p + 1.0 - p)


def time_folds(n: int, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blocked folds over rows sorted by time (each fold a contiguous time block)."""
    edges = np.linspace(0, n, k + 1).astype(int)
    idx = np.arange(n)
    return [
        (np.concatenate([idx[: edges[i]], idx[edges[i + 1] :]]), idx[edges[i] : edges[i + 1]])
        for i in range(k)
    ]


class Ensemble:
    """The three members fitted on one training set; `proba` = prior-corrected soft vote."""

    def __init__(self, rf_leaf: int, xgb_depth: int, seed: int, n_jobs: int) -> None:
        self.rf = RandomForestClassifier(
            n_estimators=40,
            max_depth=10,
            min_samples_leaf=rf_leaf,
            class_weight="balanced_subsample",
            random_state=seed,
            n_jobs=n_jobs,
        )
        # one thread: on a few thousand rows XGBoost's thread start-up costs more than it saves
        self.xgb = xgb.XGBClassifier(
            n_estimators=80,
            max_depth=xgb_depth,
            learning_rate=0.15,
            subsample=0.8,
            colsample_bytree=0.8,
            n_jobs=1,
            random_state=seed,
            tree_method="hist",
            max_bin=64,
        )
        self.lr = LogisticRegression(C=0.5, max_iter=500, class_weight="balanced")

    def fit(self, x: np.ndarray, y: np.ndarray, med: np.ndarray) -> Ensemble:
        xi = np.where(np.isnan(x), med, x)
        self.mu, self.sd = xi.mean(axis=0), xi.std(axis=0) + 1e-9
        self.rf.fit(xi, y)
        self.xgb.fit(x, y)
        self.lr.fit((xi - self.mu) / self.sd, y)
        # class-weighted members estimate a balanced-prior probability: map back to the sample prior
        self.pos_rate = float(y.mean())
        return self

    def members(self, x: np.ndarray, med: np.ndarray) -> np.ndarray:
        xi = np.where(np.isnan(x), med, x)
        w = self.pos_rate / (1 - self.pos_rate)
        rf = prior_correct(self.rf.predict_proba(xi)[:, 1], w)
        lr = prior_correct(self.lr.predict_proba((xi - self.mu) / self.sd)[:, 1], w)
        xg = self.xgb.predict_proba(x)[:, 1]
        return np.column_stack([rf, xg, lr])


def onset_runs(meters: np.ndarray, onset_positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of a meter's consecutive onset-positive rows (still stable, unstable within 15 min):
    each run precedes one instability event. Returns (run id per row, -1 outside runs; n runs)."""
    new = onset_positive & np.r_[True, (meters[1:] != meters[:-1]) | ~onset_positive[:-1]]
    run = np.where(onset_positive, np.cumsum(new) - 1, -1)
    return run, int(new.sum())


def event_recall(run: np.ndarray, n_runs: int, flagged: np.ndarray) -> float:
    """Share of onset runs (events ahead) with at least one flagged reading; NaN without events."""
    if n_runs == 0:
        return float("nan")
    hit = np.zeros(n_runs, bool)
    np.logical_or.at(hit, run[run >= 0], flagged[run >= 0])
    return float(hit.mean())


class Spec(TrainingSpec):
    """Soft-voting ensemble (RF + XGBoost + logistic) with upstream outputs, blocked-time CV,
    isotonic calibration on validation; scored on all readings and on onsets only."""

    name = NAME
    embargo = pd.Timedelta("15min")

    def resources(self):
        """One BLAS thread: the logistic member (lbfgs on ~16,000 x 42) took 2.5-5 s per fit with
        two threads contending on the shared 2-core machine, 0.05-0.07 s with one (measured)."""
        from threadpoolctl import threadpool_limits

        return threadpool_limits(1)

    def data(self) -> None:
        self.frame = frame(self.ctx, "train")

    def split(self) -> None:
        df = self.frame
        self.parts = split_by_time(
            df["timestamp"].dt.tz_convert(None), df["meter_id"], embargo=self.embargo, seed=self.ctx.seed
        )

    def features(self) -> None:
        self.y_all = self.frame[LABEL].to_numpy().astype(int)

    def fit(self) -> None:
        """Keep every training positive, subsample negatives (prior-corrected); upstream model
        outputs on the rows used; blocked-time CV; the final ensemble; validation calibration."""
        ctx, split, y_all = self.ctx, self.parts, self.y_all
        tr_idx = np.flatnonzero(split.train)
        self.pos, self.neg = pos, neg = tr_idx[y_all[tr_idx] == 1], tr_idx[y_all[tr_idx] == 0]
        self.keep = keep = min(len(neg), NEG_KEEP[ctx.profile])
        neg_kept = np.sort(ctx.rng.choice(neg, keep, replace=False))
        self.keep_rate = keep / max(len(neg), 1)
        sel = np.sort(np.concatenate([pos, neg_kept]))
        self._upstream(sel)
        self.x_tr, self.y_tr = x_tr, y_tr = self.x_all[sel], y_all[sel]
        med = np.nanmedian(x_tr, axis=0)
        self.med = med = np.where(np.isnan(med), 0.0, med)
        grid = [{"rf_leaf": 5, "xgb_depth": 3}, {"rf_leaf": 20, "xgb_depth": 5}]
        self.cv_rows = [{**hp, "cv_log_loss": self._cv_log_loss(hp)} for hp in grid]
        self.best = best = min(self.cv_rows, key=lambda r: np.nan_to_num(r["cv_log_loss"], nan=np.inf))
        self.ens = Ensemble(best["rf_leaf"], best["xgb_depth"], ctx.seed, ctx.n_jobs).fit(x_tr, y_tr, med)
        self._calibrate()

    def _upstream(self, sel: np.ndarray) -> None:
        """Upstream model outputs on the rows used (training sample, validation, test)."""
        df, split = self.frame, self.parts
        self.registry = registry = upstream_registry(self.ctx)
        up_all = np.full((len(df), 0), np.nan)
        self.used_up: list[str] = []
        self.up_notes: dict[str, str] = {"registry": "none known: upstream outputs not used"}
        needed = np.flatnonzero(np.isin(np.arange(len(df)), sel) | split.val | split.test)
        if registry:
            up, up_names, self.up_notes = run_upstream(
                registry, df.iloc[needed], SCHEMA_FEATURES, SCHEMA_VERSION
            )
            full_up = np.full((len(df), len(up_names)), np.nan)
            full_up[needed] = up
            keep_cols = np.isfinite(full_up[sel]).mean(axis=0) >= 0.5
            self.used_up = [n for n, k in zip(up_names, keep_cols, strict=True) if k]
            up_all = full_up[:, keep_cols]
        self.x_all = np.hstack([df[list(RAW_FEATURES)].to_numpy(float), up_all])
        self.input_names = [*RAW_FEATURES, *self.used_up]

    def _cv_log_loss(self, hp: dict) -> float:
        ctx, x_tr, y_tr, med = self.ctx, self.x_tr, self.y_tr, self.med
        losses = []
        for a, b in time_folds(len(x_tr), 3 if ctx.quick else 5):
            if y_tr[a].sum() < 2 or y_tr[a].min() == y_tr[a].max():
                continue
            ens = Ensemble(hp["rf_leaf"], hp["xgb_depth"], ctx.seed, ctx.n_jobs).fit(x_tr[a], y_tr[a], med)
            p = np.clip(ens.members(x_tr[b], med).mean(axis=1), 1e-6, 1 - 1e-6)
            losses.append(float(-np.mean(y_tr[b] * np.log(p) + (1 - y_tr[b]) * np.log(1 - p))))
        return float(np.mean(losses)) if losses else float("nan")

    def proba_raw(self, x: np.ndarray) -> np.ndarray:
        return prior_correct(self.ens.members(x, self.med).mean(axis=1), self.keep_rate)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return np.interp(self.proba_raw(x), self.iso_x, self.iso_y)

    def _calibrate(self) -> None:
        """Isotonic on the validation part when it has enough positives."""
        p_val = self.proba_raw(self.x_all[self.parts.val])
        y_val = self.y_all[self.parts.val]
        self.iso_x, self.iso_y = np.array([0.0, 1.0]), np.array([0.0, 1.0])
        self.calibrated = False
        if y_val.sum() >= 20:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(p_val, y_val)
            self.iso_x, self.iso_y = iso.X_thresholds_, iso.y_thresholds_
            self.calibrated = True

    def export(self) -> None:
        """The forest and the booster as ONNX graphs (ONNX Runtime serves them); the logistic
        member stays arithmetic in the params because its per-input contributions (coefficient ×
        standardised value) are the served risk factors."""
        ctx, ens = self.ctx, self.ens
        n_in = self.x_all.shape[1]
        rf_path = sklearn_to_onnx(ens.rf, n_in, ctx.path("grid_stability_rf.onnx"))
        xgb_path = xgboost_to_onnx(ens.xgb, n_in, ctx.path("grid_stability_xgb.onnx"))
        params_path = write_params(
            ctx.path("grid_stability_params.json"),
            {
                "median": self.med,
                "lr_coef": ens.lr.coef_.ravel(),
                "lr_intercept": float(ens.lr.intercept_[0]),
                "mu": ens.mu,
                "sd": ens.sd,
                "iso_x": self.iso_x,
                "iso_y": self.iso_y,
                "member_weight": ens.pos_rate / (1 - ens.pos_rate),
                "keep_rate": self.keep_rate,
                "features": list(RAW_FEATURES),
                "upstream_used": self.used_up,
            },
        )
        self.artifacts = {"rf": rf_path, "xgb": xgb_path, "params": params_path}

    def evaluate(self) -> None:
        """Held-out test (once): every reading beside "always stable" and persistence, and the
        onsets only — readings that are still stable — where persistence cannot see the event
        coming: reading-level AUC/recall and event-level recall (events ahead with ≥ 1 alarm)."""
        split, y_all = self.parts, self.y_all
        self.x_te, self.y_te = x_te, y_te = self.x_all[split.test], y_all[split.test]
        self.p_te = p_te = self.proba(x_te)
        pred = (p_te >= 0.5).astype(int)
        now = self.frame[NOW].to_numpy(bool)[split.test]
        v = self.v = {
            "acc": accuracy_score(y_te, pred),
            "base_acc": accuracy_score(y_te, np.zeros_like(y_te)),
        }
        v["persist_acc"] = accuracy_score(y_te, now.astype(int))
        self.has_both = 0 < y_te.sum() < len(y_te)
        v["auc"] = float(roc_auc_score(y_te, p_te)) if self.has_both else float("nan")
        v["brier"] = float(brier_score_loss(y_te, p_te))
        v["prev"] = prev = float(self.y_tr.sum() / (len(self.pos) + len(self.neg)))
        v["brier_base"] = float(brier_score_loss(y_te, np.full(len(y_te), prev)))
        v["recall"] = float(pred[y_te == 1].mean()) if y_te.sum() else float("nan")
        self._evaluate_onsets(now, pred)
        self._evaluate_other_feeder()
        self.metrics = self._metrics()

    def _evaluate_onsets(self, now: np.ndarray, pred: np.ndarray) -> None:
        v, y_te, p_te = self.v, self.y_te, self.p_te
        on = ~now
        y_on, p_on = y_te[on], p_te[on]
        v["onset_rows"], v["onset_positives"] = int(on.sum()), int(y_on.sum())
        v["onset_auc"] = float(roc_auc_score(y_on, p_on)) if 0 < y_on.sum() < len(y_on) else float("nan")
        v["onset_recall"] = float(pred[on][y_on == 1].mean()) if y_on.sum() else float("nan")
        v["onset_false_alarms"] = float(pred[on][y_on == 0].mean()) if (y_on == 0).any() else float("nan")
        meters = self.frame["meter_id"].to_numpy()[self.parts.test]
        order = np.lexsort((np.arange(len(meters)), meters))  # by meter, time order kept
        onset_positive = (on & (y_te == 1))[order]
        run, n_runs = onset_runs(meters[order], onset_positive)
        v["onset_events"] = n_runs
        v["onset_event_recall"] = event_recall(run, n_runs, pred[order].astype(bool))

    def _evaluate_other_feeder(self) -> None:
        """Generalisation: the other feeder (at most 60,000 rows: the check needs no more)."""
        ctx, v = self.ctx, self.v
        dft = frame(ctx, "test")
        if len(dft) > 60000:
            dft = dft.iloc[np.sort(ctx.rng.choice(len(dft), 60000, replace=False))].reset_index(drop=True)
        xg_ = dft[list(RAW_FEATURES)].to_numpy(float)
        if self.used_up:
            upg, upg_names, _ = run_upstream(self.registry, dft, SCHEMA_FEATURES, SCHEMA_VERSION)
            xg_ = np.hstack([xg_, upg[:, [upg_names.index(n) for n in self.used_up]]])
        self.yg_ = yg_ = dft[LABEL].to_numpy().astype(int)
        pg = self.proba(xg_)
        v["acc_g"] = accuracy_score(yg_, (pg >= 0.5).astype(int))
        v["auc_g"] = float(roc_auc_score(yg_, pg)) if 0 < yg_.sum() < len(yg_) else float("nan")

    def _metrics(self) -> list[Metric]:
        v = self.v
        no_onsets = (
            ""
            if v["onset_positives"]
            else "the test block holds no onset (stable reading, unstable within 15 min)"
        )
        persistence = "persistence (the reading's own state)"
        return [
            Metric(
                "accuracy",
                float(v["acc"]),
                float(v["persist_acc"]),
                persistence,
                ">= 0.93",
                not_assessable="" if self.y_te.any() else "the test block holds no unstable reading",
            ),
            Metric("roc_auc", v["auc"], 0.5, "random"),
            Metric(
                "brier", v["brier"], v["brier_base"], "constant training prevalence", higher_is_better=False
            ),
            Metric(
                "onset_roc_auc",
                v["onset_auc"],
                0.5,
                "persistence (stable stays stable)",
                not_assessable=no_onsets,
            ),
            Metric(
                "onset_recall",
                v["onset_recall"],
                0.0,
                "persistence (stable stays stable)",
                not_assessable=no_onsets,
            ),
            Metric(
                "onset_event_recall",
                v["onset_event_recall"],
                0.0,
                "persistence (stable stays stable)",
                not_assessable=no_onsets,
            ),
            Metric("other_feeder_accuracy", float(v["acc_g"]), float(1 - self.yg_.mean()), "always stable"),
        ]

    def _plots(self) -> list[str]:
        rd, y_te, p_te, v = self.ctx.report_dir, self.y_te, self.p_te, self.v
        rd.mkdir(parents=True, exist_ok=True)
        curves_md = []
        if self.has_both:
            fpr, tpr, _ = roc_curve(y_te, p_te)
            prc, rec, _ = precision_recall_curve(y_te, p_te)
            save_xy(
                rd / f"{NAME}_roc.png",
                {f"ensemble (AUC {v['auc']:.3f})": (fpr, tpr)},
                "ROC, held-out test",
                "false-positive rate",
                "true-positive rate",
                diagonal=True,
            )
            save_xy(
                rd / f"{NAME}_pr.png",
                {"ensemble": (rec, prc)},
                "Precision-recall, held-out test",
                "recall",
                "precision",
            )
            curves_md = [f"![roc]({NAME}_roc.png)", f"![pr]({NAME}_pr.png)"]
        bins = np.quantile(p_te, np.linspace(0, 1, 11))
        which = np.clip(np.searchsorted(bins, p_te, side="right") - 1, 0, 9)
        rel = [(p_te[which == b].mean(), y_te[which == b].mean()) for b in range(10) if (which == b).any()]
        save_xy(
            rd / f"{NAME}_reliability.png",
            {"ensemble": (np.array([r[0] for r in rel]), np.array([r[1] for r in rel]))},
            f"Reliability (deciles), Brier {v['brier']:.4f}",
            "predicted P(unstable)",
            "observed frequency",
            diagonal=True,
        )
        imp = self.ens.xgb.feature_importances_
        top = np.argsort(imp)[::-1][:15]
        save_barh(
            rd / f"{NAME}_importance.png",
            [self.input_names[i] for i in top],
            imp[top].tolist(),
            "XGBoost gain importance (top 15)",
            "importance",
        )
        return curves_md

    def _body(self, curves_md: list[str]) -> str:
        v, y_te = self.v, self.y_te
        return "\n\n".join(
            [
                f"## Cross-validation ({3 if self.ctx.quick else 5} blocked-time folds, training part)",
                md_table(
                    ["RF min_samples_leaf", "XGB max_depth", "CV log-loss"],
                    [(r["rf_leaf"], r["xgb_depth"], r["cv_log_loss"]) for r in self.cv_rows],
                ),
                "## Held-out test",
                md_table(
                    ["metric", "value", "baseline"],
                    [
                        (
                            "accuracy (p ≥ 0.5)",
                            v["acc"],
                            f"{v['persist_acc']:.4g} (persistence), {v['base_acc']:.4g} (always stable)",
                        ),
                        ("ROC AUC", v["auc"], 0.5),
                        ("Brier", v["brier"], v["brier_base"]),
                        ("recall of unstable", v["recall"], 0.0),
                        ("positives in test", int(y_te.sum()), ""),
                        ("other-feeder accuracy", v["acc_g"], float(1 - self.yg_.mean())),
                        ("other-feeder AUC", v["auc_g"], 0.5),
                    ],
                ),
                "## Onsets only (readings that are still stable; persistence predicts none of them)",
                md_table(
                    ["metric", "value", "persistence"],
                    [
                        ("rows / positives", f"{v['onset_rows']} / {v['onset_positives']}", ""),
                        ("ROC AUC", v["onset_auc"], 0.5),
                        ("recall (reading level, p ≥ 0.5)", v["onset_recall"], 0.0),
                        ("false alarms on stable-staying readings", v["onset_false_alarms"], 0.0),
                        (f"event recall ({v['onset_events']} events ahead)", v["onset_event_recall"], 0.0),
                    ],
                ),
                *curves_md,
                f"![reliability]({NAME}_reliability.png)",
                f"![importance]({NAME}_importance.png)",
            ]
        )

    def _notes(self) -> str:
        v = self.v
        notes = (
            f"Label prevalence in training {v['prev']:.4%}: accuracy is dominated by the stable class and most "
            "positives are ongoing events visible in the current reading, so accuracy is judged beside persistence "
            "and the onsets (still-stable readings) are scored separately. "
            f"Calibration: {'isotonic on the validation part' if self.calibrated else 'prior correction only (validation part has < 20 positives)'}. "
            "stability_score = 100·(1 − P(unstable within 15 min)); class unstable if P ≥ 0.5, marginal if P ≥ 0.1. "
            f"Upstream outputs used: {self.used_up or 'none'} ({self.up_notes}). They are computed by running the "
            "registered served upstream models on the training rows (registry from `ctx.registry` or "
            "`$GRIDTWIN_REGISTRY`); models that need per-meter Redis state answer DEGRADED offline and are left out. "
            "Serving reads the listed outputs from `batch.upstream`. "
        )
        if v["acc"] < 0.93:
            notes += f"Goal missed: accuracy {v['acc']:.4f} < 0.93. "
        if v["acc"] <= v["persist_acc"]:
            notes += f"Accuracy {v['acc']:.4f} does not beat persistence ({v['persist_acc']:.4f}). "
        if not self.has_both:
            notes += "The held-out test part has no unstable rows in this profile: AUC is undefined (NaN). "
        return notes

    def report(self) -> TrainResult:
        curves_md = self._plots()
        best, keep, df = self.best, self.keep, self.frame
        return TrainResult(
            algorithm=(
                "Soft-voting ensemble: random forest + XGBoost (ONNX Runtime) + logistic regression (served as its "
                "coefficients: their contributions are the risk factors), isotonic-calibrated"
            ),
            artifacts=self.artifacts,
            features=self.input_names,
            metrics=self.metrics,
            hyperparameters={
                "rf": {"n_estimators": 40, "max_depth": 10, "min_samples_leaf": best["rf_leaf"]},
                "xgb": {
                    "n_estimators": 80,
                    "max_depth": best["xgb_depth"],
                    "learning_rate": 0.15,
                    "max_bin": 64,
                },
                "lr": {"C": 0.5},
                "negatives_kept": keep,
                "thresholds": {"unstable": 0.5, "marginal": 0.1},
            },
            training_data={
                "rows": int(len(df)),
                "positives": int(self.y_all.sum()),
                "label": LABEL,
                "upstream": self.up_notes,
            },
            split=self.parts.describe() | {"embargo": "15min", "negatives_subsampled_to": keep},
            cross_validation={
                "folds": 3 if self.ctx.quick else 5,
                "kind": "blocked time",
                "results": self.cv_rows,
            },
            report_md=self._body(curves_md),
            notes=self._notes(),
            latency_rows=_latency_rows(df, self.parts),
        )


def _latency_rows(df: pd.DataFrame, split) -> np.ndarray:
    idx = np.flatnonzero(split.test)[::997][:20]
    return df[list(SCHEMA_FEATURES)].to_numpy(float)[idx]
