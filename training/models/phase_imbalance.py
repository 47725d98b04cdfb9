"""Train 1.4 phase imbalance: a decision tree on the simulator's labelled unbalance causes.

Label: ``imbalance.parquet`` ``cause`` (none / phase_concentrated_load / open_phase /
unbalanced_pv / sensor_fault), set by the simulator from the event that it injected (a
concentrated single-phase load, an open conductor at a feeder head, PV concentrated on one
phase, a dropped or drifting meter channel), never from thresholds of the readings, plus open
conductors upstream of the meters injected into the simulator's readings (labelled by the
injection; see ``training/models/_monitoring/open_phase.py``: the simulator opens phases only
downstream of its head meters, and rarely). Three-phase meters only (transformer and feeder
heads). VUF/LVUR/PVUR are formulas and are not learned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.tree import DecisionTreeClassifier

from gridtwin.features.frame import features_from_dataframe
from gridtwin.models._monitoring.imbalance_features import (
    DESCRIPTOR_NAMES,
    INPUT_COLUMNS,
    cause_descriptors,
    critical_phase,
)
from training.context import Metric, TrainContext, TrainResult
from training.models._monitoring.common import (
    join_labels,
    latency_rows,
    md_table,
    save_barh,
    save_confusion,
    time_folds,
)
from training.models._monitoring.open_phase import inject_open_phases
from training.onnx_export import sklearn_to_onnx, write_params
from training.spec import TrainingSpec, grid_search

NAME = "phase_imbalance"
MAX_CV_ROWS = 40_000
OPEN_PHASE_SEED = 1159  # the injection's own random stream (the context's stays untouched)
CAUSES = ("none", "phase_concentrated_load", "open_phase", "unbalanced_pv", "sensor_fault")
#: Unweighted only: selection is by accuracy, and in the published full run every
#: class_weight="balanced" setting scored below every unweighted one (best 0.9457 unweighted,
#: all six balanced lower), so they only doubled the CV's cost (36 s of tree fits).
GRID_FULL = [
    {"max_depth": d, "min_samples_leaf": leaf, "class_weight": None} for d in (8, 12, 16) for leaf in (5, 25)
]
GRID_QUICK = [
    {"max_depth": d, "min_samples_leaf": 10, "class_weight": cw} for d in (6, 12) for cw in (None, "balanced")
]


def _frame(ctx: TrainContext, feeder: str) -> pd.DataFrame:
    """Serving features of the feeder's three-phase meters with their causes, after injecting
    open conductors upstream of the meters (:mod:`training.models._monitoring.open_phase`):
    about one per meter and simulated day, labelled by the injection."""
    labels = ctx.table("imbalance", feeder)
    meters = sorted(labels["meter_id"].unique())
    readings = ctx.table("readings", feeder)
    readings = readings[readings["meter_id"].isin(set(meters))]
    span = pd.to_datetime(readings["timestamp"], utc=True)
    days = max(1, int(round((span.max() - span.min()) / pd.Timedelta("1D"))))
    rng = np.random.default_rng([ctx.seed, OPEN_PHASE_SEED, int(feeder == "test")])
    readings, opened = inject_open_phases(readings, meters, days, rng)
    frame = join_labels(features_from_dataframe(readings), labels)
    if len(opened):
        hit = join_labels(frame[["meter_id", "timestamp"]].reset_index(), opened).set_index("index")
        frame.loc[hit.index, "cause"] = "open_phase"
        frame.loc[hit.index, "critical_phase"] = hit["phase"]
    return frame


def _cv_table(cv_rows: list[dict]) -> str:
    return md_table(
        ["max_depth", "min_samples_leaf", "class_weight", "CV accuracy", "std", "CV macro-F1"],
        [
            [r["max_depth"], r["min_samples_leaf"], r["class_weight"], r["accuracy"], r["std"], r["macro_f1"]]
            for r in sorted(cv_rows, key=lambda r: -r["accuracy"])[:6]
        ],
    )


class Spec(TrainingSpec):
    """Decision tree on the cause descriptors; blocked-time CV on the training part."""

    name = NAME
    embargo = pd.Timedelta("30min")

    def data(self) -> None:
        frame = _frame(self.ctx, "train").sort_values("timestamp", kind="stable").reset_index(drop=True)
        self.frame = frame

    def features(self) -> None:
        self.x_all = cause_descriptors(self.frame[list(INPUT_COLUMNS)].to_numpy(float))
        self.y_all = self.frame["cause"].to_numpy().astype(str)

    def fit(self) -> None:
        """5-fold blocked-time CV on at most MAX_CV_ROWS training rows (a uniform subsample keeps
        the time order), selected by accuracy (the issue's goal metric), macro-F1 beside it."""
        ctx, split = self.ctx, self.parts
        xtr, ytr = self.x_all[split.train], self.y_all[split.train]
        self.grid = GRID_QUICK if ctx.quick else GRID_FULL
        cv_rows_idx = np.arange(len(xtr))
        if len(cv_rows_idx) > MAX_CV_ROWS:
            cv_rows_idx = np.sort(ctx.rng.choice(cv_rows_idx, MAX_CV_ROWS, replace=False))
        self.cv_rows_idx = cv_rows_idx
        xtr, ytr = xtr[cv_rows_idx], ytr[cv_rows_idx]
        folds = time_folds(self.frame["timestamp"].to_numpy()[split.train][cv_rows_idx], 5)

        def fold(params: dict, tr: np.ndarray, va: np.ndarray) -> dict[str, float]:
            p = DecisionTreeClassifier(random_state=ctx.seed, **params).fit(xtr[tr], ytr[tr]).predict(xtr[va])
            labels = np.unique(np.r_[ytr[va], p])
            return {
                "accuracy": accuracy_score(ytr[va], p),
                "macro_f1": f1_score(ytr[va], p, average="macro", labels=labels, zero_division=0),
            }

        self.cv_rows = grid_search(self.grid, folds, fold)
        self.best = max(self.cv_rows, key=lambda r: (r["accuracy"], r["macro_f1"]))
        self.params = {k: self.best[k] for k in ("max_depth", "min_samples_leaf", "class_weight")}
        # Refit on train + validation (training meters only, time-earlier than test).
        self.fit_mask = split.train | split.val
        meters = self.frame["meter_id"].to_numpy()
        if set(meters[self.fit_mask]) & set(meters[split.test]):
            raise RuntimeError("phase_imbalance: a test meter reached the refit (train + validation) rows")
        self.tree = DecisionTreeClassifier(random_state=ctx.seed, **self.params).fit(
            self.x_all[self.fit_mask], self.y_all[self.fit_mask]
        )

    def export(self) -> None:
        ctx, tree = self.ctx, self.tree
        self.artifacts = {
            "model": sklearn_to_onnx(tree, self.x_all.shape[1], ctx.path("phase_imbalance_tree.onnx")),
            "params": write_params(
                ctx.path("phase_imbalance_params.json"), {"classes": np.asarray(tree.classes_).astype(str)}
            ),
        }

    def evaluate(self) -> None:
        """Held-out test (later time block, meters never seen in the train part) and the other feeder."""
        split, y_all, tree = self.parts, self.y_all, self.tree
        self.yte = yte = y_all[split.test]
        self.pred = pred = tree.predict(self.x_all[split.test])
        self.majority = majority = pd.Series(y_all[self.fit_mask]).mode().iat[0]
        self.acc = accuracy_score(yte, pred)
        self.acc_base = accuracy_score(yte, np.full_like(yte, majority))
        present = sorted(set(yte) | set(pred))
        self.mf1 = f1_score(yte, pred, average="macro", labels=present, zero_division=0)
        self.mf1_base = f1_score(
            yte, np.full_like(yte, majority), average="macro", labels=present, zero_division=0
        )
        test_inputs = self.frame.loc[split.test, list(INPUT_COLUMNS)].to_numpy(float)
        phase_true = self.frame.loc[split.test, "critical_phase"].to_numpy().astype(str)
        self.phase_acc = float((critical_phase(test_inputs, pred) == phase_true).mean())
        self.phase_base = float(
            (critical_phase(test_inputs, np.full(len(pred), "none")) == phase_true).mean()
        )
        gen = _frame(self.ctx, "test")
        self.gen_pred = tree.predict(cause_descriptors(gen[list(INPUT_COLUMNS)].to_numpy(float)))
        self.gen_y = gen["cause"].to_numpy().astype(str)
        self.gen_acc = accuracy_score(self.gen_y, self.gen_pred)
        self.gen_base = accuracy_score(self.gen_y, np.full_like(self.gen_y, majority))
        causes = sorted(set(yte) - {"none"})
        why = "" if causes else "the test block holds no unbalance cause (only 'none')"
        self.metrics = [
            Metric(
                "cause_accuracy",
                float(self.acc),
                float(self.acc_base),
                f"always {majority}",
                ">= 0.92",
                not_assessable=why,
            ),
            Metric(
                "cause_macro_f1",
                float(self.mf1),
                float(self.mf1_base),
                f"always {majority}",
                not_assessable=why,
            ),
            Metric("critical_phase_accuracy", self.phase_acc, self.phase_base, "most loaded phase"),
            Metric(
                "other_feeder_cause_accuracy", float(self.gen_acc), float(self.gen_base), f"always {majority}"
            ),
        ]

    def _plots(self) -> list[str]:
        ctx, yte, pred, gen_y, gen_pred = self.ctx, self.yte, self.pred, self.gen_y, self.gen_pred
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        labels = [c for c in CAUSES if c in set(yte) | set(pred)]
        save_confusion(ctx.report_dir / f"{NAME}_confusion.png", yte, pred, labels, "Cause, held-out test")
        gen_labels = [c for c in CAUSES if c in set(gen_y) | set(gen_pred)]
        save_confusion(
            ctx.report_dir / f"{NAME}_confusion_other_feeder.png",
            gen_y,
            gen_pred,
            gen_labels,
            "Cause, other feeder (generalisation)",
        )
        imp = self.tree.feature_importances_
        top = np.argsort(imp)[::-1][:12]
        save_barh(
            ctx.report_dir / f"{NAME}_importance.png",
            [DESCRIPTOR_NAMES[i] for i in top],
            imp[top].tolist(),
            "Decision tree feature importance (impurity)",
            "importance",
        )
        return labels

    def _body(self, labels: list[str], classes_train: dict, classes_test: dict) -> str:
        yte, pred = self.yte, self.pred
        per_class = md_table(
            ["cause", "test rows", "recall"],
            [
                [
                    c,
                    int((yte == c).sum()),
                    float((pred[yte == c] == c).mean()) if (yte == c).any() else float("nan"),
                ]
                for c in labels
            ],
        )
        return f"""
Exact quantities (no model): VUF (IEC 61000-4-30, from 120°-derived line voltages), LVUR (NEMA MG-1),
PVUR (IEEE), current unbalance, and `imbalance_class` by VUF band: balanced < 1 % ≤ minor < 2 % ≤
moderate < 3 % ≤ severe. The decision tree names the **cause** from scale-free descriptors (sorted
phase shares of I, |P|, Q, exporting phases, phase-voltage deviations, VUF/PVUR/current unbalance,
hour of day). Labels: the simulator's injected cause on three-phase meters.

Training rows by cause: {classes_train}. Test rows by cause: {classes_test}.

## Held-out test (later time block, held-out meters)

| metric | model | baseline (always `{self.majority}`) | goal |
|---|---|---|---|
| cause accuracy | {self.acc:.4f} | {self.acc_base:.4f} | ≥ 0.92 |
| cause macro-F1 (classes present) | {self.mf1:.4f} | {self.mf1_base:.4f} | |
| critical-phase accuracy | {self.phase_acc:.4f} | {self.phase_base:.4f} (most-loaded phase) | |
| other feeder: cause accuracy | {self.gen_acc:.4f} | {self.gen_base:.4f} | |

{per_class}

![confusion]({NAME}_confusion.png)
![confusion other feeder]({NAME}_confusion_other_feeder.png)
![importance]({NAME}_importance.png)

## 5-fold blocked-time CV on the training part (best 6)

{_cv_table(self.cv_rows)}
"""

    def _notes(self) -> str:
        missing = [c for c in CAUSES if c not in set(self.y_all)]
        acc, mf1 = self.acc, self.mf1
        return (
            f"Decision tree selected by 5-fold blocked-time CV (accuracy) on the training part: {self.params}. "
            f"Held-out cause accuracy {acc:.3f} vs majority baseline {self.acc_base:.3f} (goal ≥ 0.92: "
            f"{'met' if acc >= 0.92 else 'MISSED'}); macro-F1 {mf1:.3f} vs {self.mf1_base:.3f}. "
            f"Other feeder accuracy {self.gen_acc:.3f} (baseline {self.gen_base:.3f}). "
            "Accuracy is dominated by the 'none' class; macro-F1 and per-class recall show the rare causes. "
            + (
                f"Causes absent from this profile's training data: {missing} (the tree cannot predict them). "
                if missing
                else ""
            )
            + "critical_phase is named by physics per cause (not learned); its accuracy is reported."
        )

    def report(self) -> TrainResult:
        split, data = self.parts, self.frame
        labels = self._plots()
        classes_train = pd.Series(self.y_all[split.train]).value_counts().to_dict()
        classes_test = pd.Series(self.yte).value_counts().to_dict()
        return TrainResult(
            algorithm="decision tree (cause, ONNX Runtime) + exact VUF/LVUR/PVUR",
            artifacts=self.artifacts,
            features=list(INPUT_COLUMNS),
            metrics=self.metrics,
            hyperparameters={
                **self.params,
                "descriptors": list(DESCRIPTOR_NAMES),
                "vuf_bands_pct": [1.0, 2.0, 3.0],
            },
            training_data={"table": "imbalance", "rows": int(len(data)), "classes": classes_train},
            split={**split.describe(), "embargo": "30min", "refit": "train+val"},
            cross_validation={
                "method": "5-fold blocked time on train part",
                "selected_by": "accuracy",
                "cv_rows": int(len(self.cv_rows_idx)),
                "best": self.best,
                "grid_size": len(self.grid),
            },
            report_md=self._body(labels, classes_train, classes_test),
            notes=self._notes(),
            latency_rows=latency_rows(data[data["meter_id"].isin(data.loc[split.test, "meter_id"].unique())]),
        )
