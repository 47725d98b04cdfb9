"""Train 1.2 harmonic analysis: random forests classifying the distortion source type from
IEC 61000-4-7 spectra, and a THD estimator for RMS-only readings.

Labels: ``harmonic_labels.parquet`` ``source_type`` (the source the simulator synthesised:
background → served as "none", six_pulse_drive, smps_led, pv_inverter) and ``true_thd_v_pct``
(exact from the synthesised magnitudes). Inputs: the stored 16-bit waveform windows with
noise at 30–60 dB SNR, analysed with the serving code's FFT (``gridtwin.physics.harmonics``).
THD itself is a formula and is computed, not learned.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import StratifiedKFold

from gridtwin.models._monitoring.harmonic_features import (
    descriptor_names,
    spectrum_descriptors,
    waveform_spectra_pct,
)
from gridtwin.models.harmonic_analysis import LEVELS, thd_level_index
from training.context import Metric, TrainContext, TrainResult
from training.models._monitoring.common import (
    join_labels,
    latency_rows,
    md_table,
    plt,
    reading_features,
    save_barh,
    save_confusion,
)
from training.onnx_export import sklearn_to_onnx, write_params
from training.spec import TrainingSpec, grid_search

NAME = "harmonic_analysis"
EST_COLUMNS = [
    "voltage_mean_pu",
    "current_mean_a",
    "apparent_power_total_va",
    "power_factor_total",
    "reactive_share_total",
    "current_unbalance_pct",
    "nominal_voltage_v",
    "hour_of_day_sin",
    "hour_of_day_cos",
]
#: Fitting rows cap for the full profile (100k windows; the forest saturates well before).
MAX_FIT_ROWS = 15_000
#: Rows used for the 5-fold CV (a subsample of the training part keeps it inside the budget).
MAX_CV_ROWS = 6_000
LOW_SNR_DB = (30.0, 35.0)


def _spectra(ctx: TrainContext, feeder: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Labels and the (n, 39) voltage and current spectra (% of fundamental) of every window."""
    lab = ctx.table("harmonic_labels", feeder)
    z = np.load(ctx.feeder_dir(feeder) / "harmonic_windows.npz")
    order = np.argsort(z["window_id"])
    pos = order[np.searchsorted(z["window_id"][order], lab["window_id"].to_numpy())]
    v_pct, i_pct = np.empty((len(lab), 39)), np.empty((len(lab), 39))
    fs = lab["sample_rate_hz"].to_numpy(float)
    f0 = lab["fundamental_hz"].to_numpy(float)
    for a in range(0, len(lab), 5000):
        rows = pos[a : a + 5000]
        # One sample rate / fundamental per feeder: the whole chunk shares them.
        v = z["voltage"][rows].astype(float) * z["voltage_scale"][rows, None]
        i = z["current"][rows].astype(float) * z["current_scale"][rows, None]
        v_pct[a : a + len(rows)] = waveform_spectra_pct(v, fs[a], f0[a])[0]
        i_pct[a : a + len(rows)] = waveform_spectra_pct(i, fs[a], f0[a])[0]
    return lab, v_pct, i_pct


def _cv_select(
    x: np.ndarray, y: np.ndarray, grid: list[dict], n_trees: int, ctx: TrainContext
) -> tuple[dict, list]:
    folds = list(StratifiedKFold(5, shuffle=True, random_state=ctx.seed).split(x, y))

    def fold(params: dict, tr: np.ndarray, va: np.ndarray) -> dict[str, float]:
        m = RandomForestClassifier(n_trees, random_state=ctx.seed, n_jobs=ctx.n_jobs, **params).fit(
            x[tr], y[tr]
        )
        return {"accuracy": float((m.predict(x[va]) == y[va]).mean())}

    rows = grid_search(grid, folds, fold)
    return max(rows, key=lambda r: r["accuracy"]), rows


class Spec(TrainingSpec):
    """Source forests (V+I and voltage only) with 5-fold CV; the RMS-only THD estimator."""

    name = NAME

    def data(self) -> None:
        self.frame, self.v_pct, self.i_pct = _spectra(self.ctx, "train")

    def features(self) -> None:
        self.y = self.frame["source_type"].to_numpy().astype(str)
        self.x_v = spectrum_descriptors(self.v_pct)
        self.x_vi = np.hstack([self.x_v, spectrum_descriptors(self.i_pct)])

    def fit(self) -> None:
        """Windows are independent draws: validation joins the refit (capped at MAX_FIT_ROWS)."""
        ctx, split, y = self.ctx, self.parts, self.y
        fit_idx = np.flatnonzero(split.train | split.val)
        if len(fit_idx) > MAX_FIT_ROWS:
            fit_idx = np.sort(ctx.rng.choice(fit_idx, MAX_FIT_ROWS, replace=False))
        self.fit_idx = fit_idx
        self.train_idx = np.intersect1d(fit_idx, np.flatnonzero(split.train))
        cv_idx = self.train_idx
        if len(cv_idx) > MAX_CV_ROWS:
            cv_idx = np.sort(ctx.rng.choice(cv_idx, MAX_CV_ROWS, replace=False))
        self.cv_idx = cv_idx
        self.n_trees = n_trees = 40 if ctx.quick else 60
        # Full: depth 16 only (its 5-fold CV accuracy is still reported): it beat depth 10 for
        # both forests in the published run (V+I 0.9425 vs 0.9383, V 0.7343 vs 0.7292), and the
        # depth-10 folds were half of the CV's 20 forest fits.
        grid = [{"max_depth": d, "min_samples_leaf": 2} for d in ((8, 14) if ctx.quick else (16,))]
        self.best_vi, self.cv_vi = _cv_select(self.x_vi[cv_idx], y[cv_idx], grid, n_trees, ctx)
        self.best_v, self.cv_v = _cv_select(self.x_v[cv_idx], y[cv_idx], grid, n_trees, ctx)
        self.params_vi = {k: self.best_vi[k] for k in ("max_depth", "min_samples_leaf")}
        self.params_v = {k: self.best_v[k] for k in ("max_depth", "min_samples_leaf")}
        self.rf_vi = RandomForestClassifier(
            n_trees, random_state=ctx.seed, n_jobs=ctx.n_jobs, **self.params_vi
        )
        self.rf_vi.fit(self.x_vi[fit_idx], y[fit_idx])
        self.rf_v = RandomForestClassifier(n_trees, random_state=ctx.seed, n_jobs=ctx.n_jobs, **self.params_v)
        self.rf_v.fit(self.x_v[fit_idx], y[fit_idx])
        self._fit_estimator()

    def _fit_estimator(self) -> None:
        """THD estimator for RMS-only readings: windows joined to the meter's reading at that time;
        the forest or the constant training median, whichever wins on the validation windows."""
        ctx, lab, split = self.ctx, self.frame, self.parts
        self.feats = reading_features(ctx, "train")
        joined = join_labels(self.feats, lab[["meter_id", "timestamp", "window_id", "true_thd_v_pct"]])
        jw, wid = joined["window_id"].to_numpy(), lab["window_id"].to_numpy()
        self.j_train = np.isin(jw, wid[self.fit_idx])
        self.j_test = np.isin(jw, wid[split.test])
        xe = joined[EST_COLUMNS].to_numpy(float)
        self.fill = np.nanmedian(xe[self.j_train], axis=0)
        self.xe = xe = np.where(np.isfinite(xe), xe, self.fill)
        self.ye = ye = joined["true_thd_v_pct"].to_numpy()
        j_val = np.isin(jw, wid[split.val])
        j_tr_only = np.isin(jw, wid[self.train_idx])
        est = RandomForestRegressor(
            30, max_depth=6, min_samples_leaf=20, random_state=ctx.seed, n_jobs=ctx.n_jobs
        )
        est.fit(xe[j_tr_only], ye[j_tr_only])
        self.val_mae_rf = float(np.mean(np.abs(est.predict(xe[j_val]) - ye[j_val])))
        self.val_mae_const = float(np.mean(np.abs(np.median(ye[j_tr_only]) - ye[j_val])))
        self.est_kind = "forest" if self.val_mae_rf < self.val_mae_const else "constant median"
        self.est, self.est_constant = est, None
        if self.est_kind == "forest":
            est.fit(xe[self.j_train], ye[self.j_train])
        else:
            self.est_constant = float(np.median(ye[self.j_train]))

    def export(self) -> None:
        """One ONNX graph per forest (ONNX Runtime serves them), the class names, the estimator's
        inputs and medians, and the constant when the median beat the forest."""
        ctx, rf_vi = self.ctx, self.rf_vi
        assert list(rf_vi.classes_) == list(self.rf_v.classes_)
        artifacts = {
            "source_vi": sklearn_to_onnx(rf_vi, self.x_vi.shape[1], ctx.path("harmonic_source_vi.onnx")),
            "source_v": sklearn_to_onnx(self.rf_v, self.x_v.shape[1], ctx.path("harmonic_source_v.onnx")),
        }
        if self.est_constant is None:
            artifacts["thd_estimate"] = sklearn_to_onnx(
                self.est, self.xe.shape[1], ctx.path("harmonic_thd_estimate.onnx")
            )
        artifacts["params"] = write_params(
            ctx.path("harmonic_analysis_params.json"),
            {
                "classes": np.asarray(rf_vi.classes_).astype(str),
                "est_columns": list(EST_COLUMNS),
                "est_fill": self.fill,
                "est_constant": self.est_constant,
            },
        )
        self.artifacts = artifacts

    def evaluate(self) -> None:
        """Held-out test windows (later block, held-out meters), the other feeder, the estimator."""
        ctx, y, te = self.ctx, self.y, self.parts.test
        snr = self.frame["snr_db"].to_numpy()
        self.low = low = te & (snr >= LOW_SNR_DB[0]) & (snr < LOW_SNR_DB[1])
        self.majority = pd.Series(y[self.fit_idx]).mode().iat[0]
        self.pred_vi, self.pred_v = pred_vi, pred_v = (
            self.rf_vi.predict(self.x_vi),
            self.rf_v.predict(self.x_v),
        )
        pairs = {
            "vi_all": (pred_vi, te),
            "vi_low": (pred_vi, low),
            "v_all": (pred_v, te),
            "v_low": (pred_v, low),
        }
        self.acc = {k: float((p[m] == y[m]).mean()) for k, (p, m) in pairs.items()}
        self.base_acc = float((y[te] == self.majority).mean())
        self.base_low = float((y[low] == self.majority).mean())
        thd_fft = np.sqrt(np.nansum(self.v_pct**2, axis=1))
        self.thd_err = np.abs(thd_fft - self.frame["true_thd_v_pct"].to_numpy())
        _, g_v, g_i = g = _spectra(ctx, "test")
        self.g_y = g[0]["source_type"].to_numpy().astype(str)
        g_x_vi = np.hstack([spectrum_descriptors(g_v), spectrum_descriptors(g_i)])
        self.g_acc_vi = float((self.rf_vi.predict(g_x_vi) == self.g_y).mean())
        self.g_acc_v = float((self.rf_v.predict(spectrum_descriptors(g_v)) == self.g_y).mean())
        self._evaluate_estimator()
        self.metrics = self._metrics()

    def _evaluate_estimator(self) -> None:
        ye, j_test, j_train = self.ye, self.j_test, self.j_train
        median = float(np.median(ye[j_train]))
        if self.est_kind == "forest":
            est_pred = self.est.predict(self.xe[j_test])
        else:
            est_pred = np.full(int(j_test.sum()), median)
        self.est_mae = float(np.mean(np.abs(est_pred - ye[j_test])))
        self.est_base = float(np.mean(np.abs(median - ye[j_test])))
        self.band_acc = float((thd_level_index(est_pred) == thd_level_index(ye[j_test])).mean())
        self.band_base = float(
            (thd_level_index(np.full(j_test.sum(), median)) == thd_level_index(ye[j_test])).mean()
        )

    def _low_snr_not_assessable(self) -> str:
        """Why the 30–35 dB subset cannot judge the classifier ("" when it can): with a single
        source class among its held-out windows the always-majority baseline is already perfect,
        so no accuracy can beat it; the all-SNR accuracies still judge discrimination."""
        classes = np.unique(self.y[self.low])
        if len(classes) > 1:
            return ""
        what = f"all {classes[0]}" if len(classes) else "none"
        return (
            f"the {int(self.low.sum())} held-out windows at {LOW_SNR_DB[0]:.0f}-{LOW_SNR_DB[1]:.0f} dB "
            f"are {what}: one class, so the always-majority baseline cannot be beaten"
        )

    def _metrics(self) -> list[Metric]:
        """Headlined by the voltage-only accuracy: readings reporting harmonics carry voltages
        only, so that is the forest most served answers come from (issue 9)."""
        acc, base_low, always = self.acc, self.base_low, f"always {self.majority}"
        low = {"not_assessable": self._low_snr_not_assessable()}
        return [
            Metric("source_accuracy_voltage_only_30_35db", acc["v_low"], base_low, always, ">= 0.95", **low),
            Metric("source_accuracy_voltage_only", acc["v_all"], self.base_acc, always),
            Metric("source_accuracy_30_35db", acc["vi_low"], base_low, always, ">= 0.95", **low),
            Metric("source_accuracy", acc["vi_all"], self.base_acc, always),
            Metric(
                "source_accuracy_other_feeder",
                self.g_acc_vi,
                float((self.g_y == self.majority).mean()),
                always,
            ),
            Metric(
                "thd_fft_abs_error_p95_pp",
                float(np.percentile(self.thd_err, 95)),
                None,
                "",
                "",
                higher_is_better=False,
            ),
            Metric(
                "thd_estimate_mae_pp",
                self.est_mae,
                self.est_base,
                "training median",
                "",
                higher_is_better=False,
            ),
            Metric("thd_estimate_band_accuracy", self.band_acc, self.band_base, "median's band"),
        ]

    def _plots(self) -> None:
        rd, y, te, snr = self.ctx.report_dir, self.y, self.parts.test, self.frame["snr_db"].to_numpy()
        rd.mkdir(parents=True, exist_ok=True)
        classes = list(self.rf_vi.classes_)
        low_title = f"Source (V+I spectra), test, SNR {LOW_SNR_DB[0]:.0f}-{LOW_SNR_DB[1]:.0f} dB"
        save_confusion(
            rd / f"{NAME}_confusion_low_snr.png", y[self.low], self.pred_vi[self.low], classes, low_title
        )
        save_confusion(
            rd / f"{NAME}_confusion_voltage_only.png",
            y[te],
            self.pred_v[te],
            classes,
            "Source (voltage spectrum only), test",
        )
        edges = np.arange(30, 65, 5)
        fig, ax = plt.subplots(figsize=(5.5, 3.5))
        for p, label in ((self.pred_vi, "V+I spectra"), (self.pred_v, "voltage only")):
            vals = [
                float((p[te & (snr >= a) & (snr < a + 5)] == y[te & (snr >= a) & (snr < a + 5)]).mean())
                for a in edges[:-1]
            ]
            ax.plot(edges[:-1] + 2.5, vals, marker="o", label=label)
        ax.axhline(0.95, color="grey", ls="--", label="goal 0.95")
        ax.set_xlabel("SNR (dB)")
        ax.set_ylabel("accuracy")
        ax.set_title("Source accuracy vs SNR (held-out test)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(rd / f"{NAME}_accuracy_vs_snr.png", dpi=90)
        plt.close(fig)
        names = descriptor_names("v_") + descriptor_names("i_")
        top = np.argsort(self.rf_vi.feature_importances_)[::-1][:15]
        save_barh(
            rd / f"{NAME}_importance.png",
            [names[i] for i in top],
            self.rf_vi.feature_importances_[top].tolist(),
            "Random forest (V+I) feature importance",
            "mean decrease in impurity",
        )

    def _body(self) -> str:
        acc, lab, y, thd_err, majority = self.acc, self.frame, self.y, self.thd_err, self.majority
        base_low, base_acc = self.base_low, self.base_acc
        cv_table = md_table(
            ["forest", "max_depth", "min_samples_leaf", "CV accuracy", "std"],
            [["V+I", r["max_depth"], r["min_samples_leaf"], r["accuracy"], r["std"]] for r in self.cv_vi]
            + [["V", r["max_depth"], r["min_samples_leaf"], r["accuracy"], r["std"]] for r in self.cv_v],
        )
        return f"""
THD is computed exactly (IEC 61000-4-7 subgroups, H = 40) from the waveform or reported magnitudes.
On the simulator's noisy 16-bit windows, the FFT THD differs from the true (noise-free) THD by
median {np.median(thd_err):.3f} pp, 95th percentile {np.percentile(thd_err, 95):.3f} pp (measurement noise,
30–60 dB SNR). `harmonic_level`: low < 3 % ≤ moderate < 5 % ≤ high < 8 % ≤ severe (EN 50160 8 %,
IEEE 519 LV 8 % THD / 5 % individual).

Source type: random forests on spectrum descriptors (log magnitudes of orders 2–40 in % of the
fundamental; distortion shares of 6k±1, even, triplen and h ≥ 30 orders; THD) of the worst phase.
**V+I** uses voltage and current spectra (waveform with currents); **V** uses the voltage only
(reported harmonics carry voltages only). Windows: {len(lab)} ({pd.Series(y).value_counts().to_dict()}),
fitted on {len(self.fit_idx)}.

## Held-out test (later time block, held-out meters)

| metric | model | baseline (always `{majority}`) | goal |
|---|---|---|---|
| source accuracy, V only, SNR {LOW_SNR_DB[0]:.0f}–{LOW_SNR_DB[1]:.0f} dB (headline) | {acc["v_low"]:.4f} | {base_low:.4f} | ≥ 0.95 |
| source accuracy, V only, all SNR | {acc["v_all"]:.4f} | {base_acc:.4f} | |
| source accuracy, V+I, SNR {LOW_SNR_DB[0]:.0f}–{LOW_SNR_DB[1]:.0f} dB | {acc["vi_low"]:.4f} | {base_low:.4f} | ≥ 0.95 |
| source accuracy, V+I, all SNR | {acc["vi_all"]:.4f} | {base_acc:.4f} | |
| other feeder: V+I / V only | {self.g_acc_vi:.4f} / {self.g_acc_v:.4f} | | |
| RMS-only THD estimate ({self.est_kind}) MAE (pp) | {self.est_mae:.3f} | {self.est_base:.3f} (training median) | |
| RMS-only THD band accuracy | {self.band_acc:.4f} | {self.band_base:.4f} (median's band) | |

The simulator synthesises each source from its own template, so the source classes barely overlap and
these accuracies are high by construction; the held-out world (docs/models/heldout.md) is the test that
can fail.

![accuracy vs SNR]({NAME}_accuracy_vs_snr.png)
![confusion low SNR]({NAME}_confusion_low_snr.png)
![confusion voltage only]({NAME}_confusion_voltage_only.png)
![importance]({NAME}_importance.png)

## 5-fold stratified CV on the training part ({len(self.cv_idx)} windows, {self.n_trees} trees)

{cv_table}
"""

    def _notes(self) -> str:
        acc, est_kind = self.acc, self.est_kind
        return (
            f"V+I forest {self.params_vi}, V-only forest {self.params_v} (5-fold CV on the training part). "
            f"Source accuracy at {LOW_SNR_DB[0]:.0f}-{LOW_SNR_DB[1]:.0f} dB SNR: voltage-only {acc['v_low']:.3f} "
            f"(the headline: goal ≥ 0.95 {'met' if acc['v_low'] >= 0.95 else 'MISSED'}), V+I {acc['vi_low']:.3f} "
            f"({'meets' if acc['vi_low'] >= 0.95 else 'misses'} the goal; only waveform captures with currents get "
            f"it){'; not assessable against the baseline: ' + low if (low := self._low_snr_not_assessable()) else ''}. "
            "RMS-only THD estimate: the simulator's harmonic windows are drawn independently of the RMS "
            "timeline, so RMS features carry little information on THD here. On validation windows the forest "
            f"(MAE {self.val_mae_rf:.2f} pp) was compared with the constant training median ({self.val_mae_const:.2f} pp) "
            f"and '{est_kind}' is served; its held-out MAE "
            f"{self.est_mae:.2f} pp vs {self.est_base:.2f} pp for the constant median is reported, and served answers "
            "from it are DEGRADED and flagged thd_is_estimate. Power features are not used by the source forest for "
            "the same reason (windows are not tied to the meter's load)."
        )

    def report(self) -> TrainResult:
        self._plots()
        estimator = "random forest regressor" if self.est_kind == "forest" else "constant training median"
        return TrainResult(
            algorithm=(
                "FFT (IEC 61000-4-7) + random forest classifiers (source; ONNX Runtime) + "
                f"{estimator} (RMS-only THD estimate)"
            ),
            artifacts=self.artifacts,
            features=EST_COLUMNS + ["frequency_hz", "nominal_frequency_hz"],
            metrics=self.metrics,
            hyperparameters={
                "n_trees": self.n_trees,
                "vi": self.params_vi,
                "v": self.params_v,
                "thd_bands_pct": [3.0, 5.0, 8.0],
                "levels": list(LEVELS),
                "estimator": {
                    "kind": self.est_kind,
                    "forest": {"n_trees": 30, "max_depth": 6, "min_samples_leaf": 20},
                    "val_mae_forest_pp": self.val_mae_rf,
                    "val_mae_constant_pp": self.val_mae_const,
                },
            },
            training_data={
                "table": "harmonic_labels + harmonic_windows.npz",
                "rows": int(len(self.frame)),
                "fit_rows": int(len(self.fit_idx)),
                "cv_rows": int(len(self.cv_idx)),
            },
            split={**self.parts.describe(), "refit": "train+val", "fit_cap": MAX_FIT_ROWS},
            cross_validation={
                "method": "5-fold stratified on train part",
                "best_vi": self.best_vi,
                "best_v": self.best_v,
            },
            report_md=self._body(),
            notes=self._notes(),
            latency_rows=latency_rows(self.feats),
        )
