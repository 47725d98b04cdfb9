"""2.3 Power quality index — feed-forward NN (64-32-16 ReLU) estimating the index from RMS data.

The index (`gridtwin.models._maintenance.pqi`) is an exact formula of EN 50160 quantities.
Three of its four criteria (voltage, VUF, frequency) are in every reading and are computed
exactly; the fourth, voltage THD, needs a waveform. The network estimates what the RMS
reading does not state — log THD — from RMS-only features, and the PQI is assembled with the
estimate (`is_estimate = true`). Label: the simulator's true THD of the IEC 61000-4-7 window
taken at the same meter and minute (`harmonic_labels.true_thd_v_pct`), never a formula of the
inputs. Baseline: the same index with the training median THD (climatology).
"""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._maintenance.common import impute
from gridtwin.models._maintenance.pqi import pqi_from_ratios, ratios
from gridtwin.serving.runtime import OnnxModel
from training.context import Metric, TrainContext, TrainResult
from training.models._maintenance.common import latency_sample, medians, reading_features, save_plot
from training.onnx_export import sklearn_to_onnx
from training.spec import TrainingSpec

# RMS-only inputs (no THD columns: they are NaN without a waveform)
NN_COLUMNS: tuple[str, ...] = (
    "voltage_a_pu",
    "voltage_b_pu",
    "voltage_c_pu",
    "voltage_spread_pu",
    "current_mean_a",
    "current_max_a",
    "current_unbalance_pct",
    "current_iuf_est_pct",
    "current_neutral_est_a",
    "power_factor_a",
    "power_factor_b",
    "power_factor_c",
    "power_factor_total",
    "reactive_share_total",
    "active_power_total_w",
    "reactive_power_total_var",
    "vuf_pct",
    "pvur_pct",
    "win10min_voltage_mean_pu_std",
    "win10min_current_mean_a_std",
    "win10min_active_power_total_w_std",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "nominal_voltage_v",
)
HIDDEN = (64, 32, 16)
PARITY_TOL = 1e-4  # ONNX Runtime (float32) vs scikit-learn (float64), log THD units
CV_FOLDS_QUICK, CV_FOLDS_FULL = 5, 3


def _frame(ctx: TrainContext, feeder: str):
    lab = ctx.table("harmonic_labels", feeder)[["meter_id", "timestamp", "true_thd_v_pct"]]
    feats = reading_features(ctx, feeder, meters=sorted(lab.meter_id.unique()))
    return lab.merge(feats, on=["meter_id", "timestamp"], how="inner").reset_index(drop=True)


def exact_pqi(df, thd: np.ndarray) -> np.ndarray:
    r = ratios(
        df.voltage_min_pu.to_numpy(float),
        df.voltage_max_pu.to_numpy(float),
        thd,
        df.vuf_pct.to_numpy(float),
        df.frequency_deviation_pct.to_numpy(float),
    )
    return pqi_from_ratios(r)


def make_mlp(alpha: float, quick: bool, seed: int) -> MLPRegressor:
    """scikit-learn's MLP (kept rather than Keras: a 24-input tabular regression that fits in
    seconds with early stopping, cross-validated over 2–3 alphas × 3–5 folds; skl2onnx converts it
    exactly), ReLU, Adam."""
    return MLPRegressor(
        hidden_layer_sizes=HIDDEN,
        alpha=alpha,
        max_iter=300 if quick else 200,
        early_stopping=True,
        random_state=seed,
        learning_rate_init=1e-3,
    )


def _cross_validate(ctx: TrainContext, xs: np.ndarray, y: np.ndarray, tr: np.ndarray, y_mu: float) -> dict:
    """K-fold MAE of log THD per L2 alpha on (a subsample of) the training part.

    Full profile: 3 folds over (1e-2, 1e-1, 1.0) (was 5 folds and 1e-4 too: the published
    scores were 0.2208 / 0.2203 / 0.2195 / 0.2212, flat to within 0.8 %, and 1e-4 was never
    better than 1e-2), 27 of the fit's 44 s before."""
    alphas = (1e-3, 1e-1) if ctx.quick else (1e-2, 1e-1, 1.0)
    cv_idx = tr if len(tr) <= 20000 else np.sort(ctx.rng.choice(tr, 20000, replace=False))
    kf = KFold(n_splits=CV_FOLDS_QUICK if ctx.quick else CV_FOLDS_FULL, shuffle=True, random_state=ctx.seed)
    cv = {}
    for a in alphas:
        errs = []
        for i, j in kf.split(cv_idx):
            m = make_mlp(a, ctx.quick, ctx.seed).fit(xs[cv_idx[i]], y[cv_idx[i]] - y_mu)
            errs.append(mean_absolute_error(y[cv_idx[j]], m.predict(xs[cv_idx[j]]) + y_mu))
        cv[str(a)] = float(np.mean(errs))
    return cv


def export_mlp(nn: MLPRegressor, path, held_out: np.ndarray) -> tuple[OnnxModel, float]:
    """ONNX export (skl2onnx, float32) and its largest |ONNX − scikit-learn| on held-out rows."""
    sklearn_to_onnx(nn, held_out.shape[1], path)
    served = OnnxModel(path)
    gap = float(np.max(np.abs(served.run_one(held_out)[:, 0] - nn.predict(held_out))))
    if gap > PARITY_TOL:
        raise RuntimeError(f"ONNX export differs from scikit-learn by {gap:.3g} (> {PARITY_TOL})")
    return served, gap


def _plot(ctx: TrainContext, pqi_true, pqi_hat, pqi_base) -> str:
    """Estimated vs exact index on the held-out test rows, and the error histogram."""
    fig, axs = plt.subplots(1, 2, figsize=(8, 3.3))
    axs[0].scatter(pqi_true, pqi_hat, s=4, alpha=0.4, label="NN estimate")
    axs[0].scatter(pqi_true, pqi_base, s=4, alpha=0.3, label="climatological THD")
    lo = min(pqi_true.min(), pqi_hat.min())
    axs[0].plot([lo, 100], [lo, 100], "k:")
    axs[0].set_xlabel("exact PQI (true THD)")
    axs[0].set_ylabel("estimated PQI")
    axs[0].legend(fontsize=7)
    axs[1].hist(pqi_hat - pqi_true, bins=40)
    axs[1].set_xlabel("PQI error (index points)")
    f_sc = save_plot(ctx, fig, "scatter")
    return f_sc


def _report(v: dict) -> tuple[str, str]:
    """Report body and manifest notes from the held-out figures `v`."""
    report = f"""
### Index
PQI = 100 − Σ w·min(r, 1.5)/1.5 over EN 50160 criteria (voltage ±10 %: 35, THD 8 %: 30, VUF 2 %: 20,
frequency ±1 %: 15); see `gridtwin/models/_maintenance/pqi.py`. Voltage, VUF and frequency are exact
from the reading; THD is exact when a waveform/harmonics are attached, otherwise estimated by the NN.

### Held-out test (held-out meters, last 15 % of time), RMS-only readings
| | NN estimate | baseline: training-median THD |
|---|---|---|
| PQI R² | {v["r2"]:.3f} | {v["r2_b"]:.3f} |
| PQI MAE (points) | {v["mae"]:.2f} | {v["mae_b"]:.2f} |
| THD MAE (%) | {v["thd_mae"]:.3f} | {v["thd_mae_b"]:.3f} |

Seed design (the same NN trained on the index directly from RMS features): R² {v["r2_direct"]:.3f},
MAE {v["mae_direct"]:.2f} — it has to re-learn the exact part of the formula and still cannot see THD.

Share of the exact index's variance carried by the THD term: {v["thd_var_share"]:.2f}. Rows: train {len(v["tr"])},
test {len(v["te"])}. Other feeder: R² {v["g_r2"]:.3f}, MAE {v["g_mae"]:.2f}.

![scatter]({v["f_sc"]})

### Cross-validation (K-fold, training part; MAE of log THD by L2 alpha; K in the manifest)
{v["cv"]}
"""
    notes = (
        f"Hybrid by design: the NN (sklearn MLPRegressor {HIDDEN} ReLU, Adam, early stopping; exported to ONNX "
        f"and served by ONNX Runtime) estimates only the THD, the quantity the RMS reading lacks; the other EN 50160 criteria are "
        f"computed exactly (training a network to re-learn a formula of its inputs would be dishonest and less "
        f"accurate; measured: the NN trained on the index directly gets R² {v['r2_direct']:.3f}, MAE {v['mae_direct']:.2f}). "
        f"In the simulator the harmonic source at a window is drawn independently of the RMS timeline "
        f"(docs/simulator.md), so RMS features carry little THD information: THD MAE {v['thd_mae']:.3f} vs "
        f"{v['thd_mae_b']:.3f} for the climatological median. PQI R² {v['r2']:.3f} (goal 0.85: "
        f"{'met' if v['r2'] >= 0.85 and v['r2'] > v['r2_b'] else 'MISSED'}), MAE {v['mae']:.2f} vs {v['mae_b']:.2f}; "
        f"the R² mostly reflects the exact components. With a waveform or meter-reported harmonics attached "
        f"the index is exact (is_estimate=false). "
        + (
            f"On the validation block the network's THD MAE {v['val_mae']:.3f} beats the median's {v['val_mae_b']:.3f}."
            if v["val_beats"]
            else f"The THD network does NOT beat the climatological median on the validation block (MAE "
            f"{v['val_mae']:.3f} vs {v['val_mae_b']:.3f}); the manifest says so (`thd_network.beats_baseline`) so that "
            "serving can answer with the median instead."
        )
    )
    return report, notes


def _seed_direct(ctx: TrainContext, df, xs, tr, te, alpha: float, pqi_true) -> tuple[float, float]:
    """The seed's design, measured beside ours: the same network trained on the index itself."""
    pqi_all = exact_pqi(df, df.true_thd_v_pct.to_numpy(float))
    ok = tr[np.isfinite(pqi_all[tr])]  # outage rows have no index (no VUF at 0 V)
    direct = make_mlp(alpha, ctx.quick, ctx.seed).fit(xs[ok], pqi_all[ok] - pqi_all[ok].mean())
    pqi_direct = direct.predict(xs[te]) + pqi_all[ok].mean()
    return r2_score(pqi_true, pqi_direct), mean_absolute_error(pqi_true, pqi_direct)


def _other_feeder(ctx: TrainContext, estimate_thd, fill, mu, sd) -> tuple[float, float]:
    """PQI R² and MAE on the other (never seen) feeder, THD estimated by the served graph."""
    gdf = _frame(ctx, "test")
    gxs = (impute(gdf[list(NN_COLUMNS)].to_numpy(float), fill) - mu) / sd
    g_true = exact_pqi(gdf, gdf.true_thd_v_pct.to_numpy(float))
    g_hat = exact_pqi(gdf, estimate_thd(gxs))
    g_ok = np.isfinite(g_true) & np.isfinite(g_hat)
    return r2_score(g_true[g_ok], g_hat[g_ok]), mean_absolute_error(g_true[g_ok], g_hat[g_ok])


class Spec(TrainingSpec):
    """THD network on RMS features (5-fold CV over L2 alpha); the index assembled exactly."""

    name = "power_quality_index"
    embargo = 0

    def resources(self):
        """One BLAS thread: the matrices are small and threads only contend on the shared machine."""
        return threadpool_limits(1)

    def data(self) -> None:
        self.t0 = time.perf_counter()
        self.frame = _frame(self.ctx, "train")

    def features(self) -> None:
        self.x_raw = self.frame[list(NN_COLUMNS)].to_numpy(float)
        self.y = np.log(self.frame.true_thd_v_pct.to_numpy(float))

    def fit(self) -> None:
        ctx, split, y = self.ctx, self.parts, self.y
        self.fill = medians(self.x_raw[split.train])
        x = impute(self.x_raw, self.fill)
        self.tr = tr = np.flatnonzero(split.train)
        self.mu, self.sd = x[tr].mean(0), x[tr].std(0) + 1e-9
        self.xs = (x - self.mu) / self.sd
        self.y_mu = float(y[tr].mean())
        self.cv = _cross_validate(ctx, self.xs, y, tr, self.y_mu)
        self.best = float(min(self.cv, key=self.cv.get))
        self.nn = make_mlp(self.best, ctx.quick, ctx.seed).fit(self.xs[tr], y[tr] - self.y_mu)

    def export(self) -> None:
        """The network as ONNX (parity-checked on the held-out scorable rows) and its scaling."""
        df, ctx = self.frame, self.ctx
        self.thd_true = thd_true = df.true_thd_v_pct.to_numpy(float)
        # rows without an index (supply lost: no VUF at 0 V) are served DEGRADED, not scored
        scorable = np.isfinite(exact_pqi(df, thd_true))
        self.te = np.flatnonzero(self.parts.test & scorable)
        # Parity needs inputs, not labels: every scorable row the network was not fitted on
        # (validation and test blocks, and the held-out meters' earlier rows). The test block
        # alone is small since the simulator ties harmonic windows to loads (43 rows in the
        # quick data), too few to check a graph.
        self.parity_rows = np.flatnonzero(~self.parts.train & scorable)
        self.served, self.parity = export_mlp(self.nn, ctx.path("pqi_mlp.onnx"), self.xs[self.parity_rows])
        np.savez(
            ctx.path("pqi_scaling.npz"), fill=self.fill, mu=self.mu, sd=self.sd, y_mu=np.array([self.y_mu])
        )
        self.artifacts = {"mlp": ctx.path("pqi_mlp.onnx"), "scaling": ctx.path("pqi_scaling.npz")}

    def estimate_thd(self, xs_rows: np.ndarray) -> np.ndarray:
        return np.exp(self.served.run_one(xs_rows)[:, 0] + self.y_mu)

    def evaluate(self) -> None:
        """Held-out evaluation, once, through the served graph."""
        df, xs, y, tr, te, thd_true = self.frame, self.xs, self.y, self.tr, self.te, self.thd_true
        thd_hat = self.estimate_thd(xs[te])
        thd_clim = float(np.exp(np.median(y[tr])))
        self.pqi_true = pqi_true = exact_pqi(df.iloc[te], thd_true[te])
        self.pqi_hat = pqi_hat = exact_pqi(df.iloc[te], thd_hat)
        self.pqi_base = pqi_base = exact_pqi(df.iloc[te], np.full(len(te), thd_clim))
        v = self.figures = {"cv": self.cv, "te": te, "tr": tr}
        v["r2"], v["r2_b"] = r2_score(pqi_true, pqi_hat), r2_score(pqi_true, pqi_base)
        v["mae"], v["mae_b"] = mean_absolute_error(pqi_true, pqi_hat), mean_absolute_error(pqi_true, pqi_base)
        v["thd_mae"], v["thd_mae_b"] = (
            mean_absolute_error(thd_true[te], thd_hat),
            mean_absolute_error(thd_true[te], np.full(len(te), thd_clim)),
        )
        # share of the index variance that is in the THD term (what no RMS model can see)
        pqi_no_thd = exact_pqi(df.iloc[te], np.zeros(len(te)))
        v["thd_var_share"] = float(np.var(pqi_true - pqi_no_thd) / max(np.var(pqi_true), 1e-12))
        v["r2_direct"], v["mae_direct"] = _seed_direct(self.ctx, df, xs, tr, te, self.best, pqi_true)
        v["g_r2"], v["g_mae"] = _other_feeder(self.ctx, self.estimate_thd, self.fill, self.mu, self.sd)
        # The component against its baseline on the validation block (never the test).
        va = np.flatnonzero(self.parts.val)
        v["val_mae"] = (
            float(mean_absolute_error(thd_true[va], self.estimate_thd(xs[va]))) if len(va) else float("nan")
        )
        v["val_mae_b"] = (
            float(mean_absolute_error(thd_true[va], np.full(len(va), thd_clim))) if len(va) else float("nan")
        )
        v["val_beats"] = bool(v["val_mae"] < v["val_mae_b"])
        base = "index with training-median THD"
        self.metrics = [
            Metric("pqi_r2", float(v["r2"]), float(v["r2_b"]), base, ">= 0.85"),
            Metric("pqi_mae", float(v["mae"]), float(v["mae_b"]), base, "", False),
            Metric(
                "thd_mae_pct", float(v["thd_mae"]), float(v["thd_mae_b"]), "training-median THD", "", False
            ),
            Metric("generalisation_pqi_r2", float(v["g_r2"]), None, "other feeder", ""),
            Metric("seed_direct_nn_pqi_r2", float(v["r2_direct"]), float(v["r2_b"]), base, ""),
            Metric("seed_direct_nn_pqi_mae", float(v["mae_direct"]), float(v["mae_b"]), base, "", False),
        ]

    def report(self) -> TrainResult:
        self.figures["f_sc"] = _plot(self.ctx, self.pqi_true, self.pqi_hat, self.pqi_base)
        report, notes = _report(self.figures)
        v, te = self.figures, self.te
        return TrainResult(
            algorithm=f"MLP{HIDDEN} ReLU (scikit-learn-trained, ONNX Runtime-served THD estimate) + exact EN 50160 index",
            artifacts=self.artifacts,
            features=list(NN_COLUMNS),
            metrics=self.metrics,
            hyperparameters={"hidden": list(HIDDEN), "alpha": self.best, "activation": "relu"},
            training_data={
                "table": "harmonic_labels + readings",
                "rows": int(len(self.frame)),
                "seconds": round(time.perf_counter() - self.t0, 1),
            },
            split=self.parts.describe(),
            cross_validation={
                "folds": 5,
                "metric": "MAE log THD",
                "scores": self.cv,
                "best_alpha": self.best,
            },
            report_md=report,
            notes=notes,
            latency_rows=latency_sample(self.frame[list(FEATURE_NAMES)].to_numpy(float)[te], self.ctx),
            extra={
                "onnx_parity": {
                    "max_abs": self.parity,
                    "tolerance": PARITY_TOL,
                    "units": "log THD",
                    "rows": len(self.parity_rows),
                    "rows_from": "every scorable row outside the training part (not fitted)",
                },
                "thd_network": {
                    "beats_baseline": v["val_beats"],
                    "validation_thd_mae_pct": v["val_mae"],
                    "validation_median_thd_mae_pct": v["val_mae_b"],
                },
            },
        )
