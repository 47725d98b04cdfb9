"""3.2 Energy loss: linear regression with polynomial features on head-end currents.

Label: the power flow's line losses (`losses.line_loss_w`: all sections for the transformer
meter, the section for a feeder-head meter). What a head-end meter does not see is how the
current is distributed along the cables; the regression learns that, per unit of the
section's loss-equivalent resistance R_eq (from the network model: line loss / sum I^2 under
load allocation by annual energy), so the same coefficients apply to another feeder.
The transformer's load loss R_k sum I_p^2 and core loss P_fe (V/Un)^2 are exact formulas of
the transformer meter's reading and are computed, not learned (standards.md "Power").
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.netopt.catalogue import KIND_HEAD, KIND_TRANSFORMER
from gridtwin.netopt.losses import DESIGN, INPUTS, LossModel, design, physics_loss
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.powerflow import solve
from training.context import Metric, TrainContext, TrainResult
from training.netopt.dataset import model_for_dataset, network_features
from training.netopt.markdown import table as md_table
from training.onnx_export import sklearn_to_onnx, write_params
from training.spec import TrainingSpec

NAME = "energy_loss"


def _rows(ctx: TrainContext, feeder: str) -> tuple[pd.DataFrame, object]:
    fdir = ctx.feeder_dir(feeder)
    model = model_for_dataset(fdir)
    readings = ctx.table("readings", feeder)
    feats = network_features(readings, fdir / "readings.parquet")
    losses = ctx.table("losses", feeder)
    df = feats.merge(losses, on=["meter_id", "timestamp"], how="inner")
    r_eq = loss_equivalent_resistance(model)
    df["r_eq"] = df.meter_id.map(r_eq)
    df["kind"] = df.meter_id.map(dict(zip(model.meter_ids, model.meter_kind, strict=True)))
    return df.dropna(subset=["r_eq"]).reset_index(drop=True), model


def loss_equivalent_resistance(model: NetworkModel) -> dict[str, float]:
    """R_eq (ohm) of every transformer/feeder-head meter of the model."""
    s = 10e3 * (1 + 1j * np.tan(np.arccos(0.95)))
    out: dict[str, float] = {}
    for mid, kind, head in zip(model.meter_ids, model.meter_kind, model.meter_head, strict=True):
        if kind not in (KIND_TRANSFORMER, KIND_HEAD):
            continue
        w = model.weights.copy()
        if kind == KIND_HEAD:
            w[model.node_head != head] = 0.0
            w /= np.where(w.sum(axis=0) > 0, w.sum(axis=0), 1.0)
        flow = solve(model, (w * s)[:, :, None], model.source_pu)
        on = np.ones(model.n_nodes, bool) if kind == KIND_TRANSFORMER else model.node_head == head
        i_head = flow.i[on].sum(axis=0)[:, 0]
        out[str(mid)] = float(flow.line_w[0] / (np.abs(i_head) ** 2).sum())
    return out


def save_network(path: Path, models: list[NetworkModel]) -> Path:
    """One .npz with, per feeder, the catalogue, each meter's R_eq and the transformer data
    (read by `gridtwin.netopt.losses.LossModel.load`)."""
    data: dict[str, np.ndarray] = {"n_feeders": np.array(len(models))}
    for f, m in enumerate(models):
        r_eq = loss_equivalent_resistance(m)
        data[f"f{f}_name"] = np.array(m.name)
        data[f"f{f}_meter_ids"] = m.meter_ids
        data[f"f{f}_meter_kind"] = m.meter_kind
        data[f"f{f}_meter_head"] = m.meter_head
        data[f"f{f}_r_eq"] = np.array([r_eq.get(str(x), np.nan) for x in m.meter_ids])
        data[f"f{f}_weights"] = m.weights
        data[f"f{f}_node_head"] = m.node_head
        data[f"f{f}_trafo"] = np.array([m.r_trafo, m.pfe_w, m.un])
    np.savez(path, **data)
    return path


def fixed_scaler(scale: np.ndarray) -> StandardScaler:
    """Division by the training design's max |value| (no centring), as a fitted scaler so the
    scaling travels inside the exported graph."""
    scaler = StandardScaler(with_mean=False)
    scaler.scale_, scaler.var_, scaler.mean_ = scale, scale**2, None
    scaler.n_features_in_, scaler.n_samples_seen_ = len(scale), 1
    return scaler


def _x(df: pd.DataFrame) -> np.ndarray:
    return np.nan_to_num(df[list(INPUTS)].to_numpy(float))


def _exact_trafo(frame: pd.DataFrame, m: NetworkModel) -> np.ndarray:
    """Transformer load loss R_k·Σ I_p² + core loss P_fe·(V/Un)² of the transformer meter's rows."""
    is_tr = (frame.kind == "transformer").to_numpy()
    i2 = (frame[["current_a_a", "current_b_a", "current_c_a"]].to_numpy() ** 2).sum(axis=1)
    return is_tr * (m.r_trafo * i2 + m.pfe_w * frame.voltage_mean_pu.to_numpy() ** 2)


def _ratio_of(pipe: Pipeline | None, constant: float):
    return pipe.predict if pipe is not None else (lambda d: np.full(len(d), constant))


class Spec(TrainingSpec):
    """Ridge on polynomial features of the loss ratio; 5-fold contiguous CV over degree and α."""

    name = NAME

    def data(self) -> None:
        self.started = time.perf_counter()
        self.frame, self.model = _rows(self.ctx, "train")

    def features(self) -> None:
        """Nothing beyond the data: the design is derived per split part in ``fit``."""

    def _fit_ratio(self, d: int, a: float, rows: np.ndarray) -> tuple[Pipeline | None, float]:
        """(scaling → polynomial features → ridge, None) or, for degree 0, (None, the one
        fitted ratio: the physics term alone)."""
        if d == 0:
            return None, float(np.mean(self.y_tr[rows]))
        # fitted step by step: Pipeline.fit would refit the scaler to the standard deviation
        z = self.d_tr[rows] / self.scale
        poly = PolynomialFeatures(d, include_bias=False).fit(z)
        reg = Ridge(alpha=a).fit(poly.transform(z), self.y_tr[rows])
        return make_pipeline(fixed_scaler(self.scale), poly, reg), float("nan")

    def fit(self) -> None:
        """5-fold CV (contiguous folds: rows are ordered by meter, so folds hold out meters) over
        polynomial degree and ridge strength, on the training part only (val rows are held-out
        meters); the test part is used once."""
        self.tr = tr = self.frame[self.parts.train]
        self.te = self.frame[self.parts.test]
        x_tr = _x(tr)
        phys_tr = physics_loss(x_tr, tr.r_eq.to_numpy())
        self.y_tr = tr.line_loss_w.to_numpy() / np.maximum(phys_tr, 1e-9)  # loss ratio to R_eq * sum I^2
        self.d_tr = design(x_tr)
        self.scale = np.maximum(np.abs(self.d_tr).max(axis=0), 1e-9)
        grid = [(0, 0.0)] + [(d, a) for d in (1, 2, 3) for a in (1e-3, 1e-1)]
        self.cv = cv = {}
        folds = list(KFold(5, shuffle=False).split(x_tr))
        for d, a in grid:
            scores = []
            for fi, vi in folds:
                lm_cv = LossModel(_ratio_of(*self._fit_ratio(d, a, fi)), [])
                pred = lm_cv.line_loss(x_tr[vi], tr.r_eq.to_numpy()[vi])
                scores.append(r2_score(tr.line_loss_w.to_numpy()[vi], pred))
            cv[f"degree={d},alpha={a:g}"] = float(np.mean(scores))
        self.best = best = max(cv, key=cv.get)
        self.d_best = int(best.split(",")[0].split("=")[1])
        self.a_best = float(best.split("alpha=")[1])
        self.pipe, self.icpt = self._fit_ratio(self.d_best, self.a_best, np.arange(len(tr)))

    def export(self) -> None:
        """The feeders' network data; the regression as an ONNX graph (ONNX Runtime serves it),
        or the one ratio for degree 0."""
        ctx, pipe = self.ctx, self.pipe
        self.art = ctx.path("energy_loss.npz")
        save_network(self.art, [self.model, model_for_dataset(ctx.feeder_dir("test"))])
        self.reg_path = (
            sklearn_to_onnx(pipe, len(DESIGN), ctx.path("energy_loss_ratio.onnx")) if pipe else None
        )
        params_path = write_params(
            ctx.path("energy_loss_params.json"),
            {"constant_ratio": None if pipe else self.icpt, "design": DESIGN},
        )
        self.artifacts = {
            "network": self.art,
            "params": params_path,
            **({"regression": self.reg_path} if self.reg_path else {}),
        }

    def evaluate(self) -> None:
        """Through the exported graph (the held-out figures are the served model's), beside a
        fixed loss factor (line loss = k |P|, fitted on the training part); the other feeder
        (every transformer/head row, its own R_eq)."""
        tr, te, model = self.tr, self.te, self.model
        lm = LossModel.load(self.art, self.reg_path, None if self.pipe else self.icpt)

        def predict_line(frame: pd.DataFrame) -> np.ndarray:
            return lm.line_loss(_x(frame), frame.r_eq.to_numpy())

        p_tr = tr.active_power_total_w.abs().to_numpy()
        k = float(p_tr @ tr.line_loss_w.to_numpy() / max(p_tr @ p_tr, 1e-9))

        def baseline(frame: pd.DataFrame) -> np.ndarray:
            return k * frame.active_power_total_w.abs().to_numpy()

        v = self.v = {}
        self.y_te = y_te = te.line_loss_w.to_numpy()
        self.pred_te = pred_te = predict_line(te)
        v["r2"], v["r2_base"] = r2_score(y_te, pred_te), r2_score(y_te, baseline(te))
        tot_te = te.total_loss_w.to_numpy()
        tot_pred = pred_te + _exact_trafo(te, model)
        v["r2_tot"] = r2_score(tot_te, tot_pred)
        v["r2_tot_base"] = r2_score(tot_te, baseline(te) + _exact_trafo(te, model))
        v["mape_tot"] = float(np.mean(np.abs(tot_pred - tot_te) / np.maximum(tot_te, 1.0)) * 100)
        self.gdf, self.gmodel = gdf, gmodel = _rows(self.ctx, "test")
        self.g_pred = g_pred = predict_line(gdf)
        v["r2_g"], v["r2_g_base"] = (
            r2_score(gdf.line_loss_w, g_pred),
            r2_score(gdf.line_loss_w, baseline(gdf)),
        )
        v["r2_g_tot"] = r2_score(gdf.total_loss_w, g_pred + _exact_trafo(gdf, gmodel))
        # exactness of the transformer part against the simulator (noise of the meter only)
        trm = te.kind == "transformer"
        v["trafo_err"] = (
            float(
                np.mean(
                    np.abs(
                        _exact_trafo(te[trm], model) - te[trm].trafo_load_loss_w - te[trm].trafo_core_loss_w
                    )
                )
            )
            if trm.any()
            else float("nan")
        )
        factor = "fixed loss factor k·|P|"
        self.metrics = [
            Metric("r2_line_loss", float(v["r2"]), float(v["r2_base"]), factor, ">= 0.95"),
            Metric(
                "r2_total_loss",
                float(v["r2_tot"]),
                float(v["r2_tot_base"]),
                "fixed loss factor + exact transformer",
            ),
            Metric("r2_line_loss_other_feeder", float(v["r2_g"]), float(v["r2_g_base"]), factor, ">= 0.95"),
            Metric("mape_total_loss_pct", v["mape_tot"], None, "", "", higher_is_better=False),
        ]

    def _plots(self) -> None:
        report, y_te, pred_te, gdf = self.ctx.report_dir, self.y_te, self.pred_te, self.gdf
        report.mkdir(parents=True, exist_ok=True)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
        for ax, (yt, yp, title) in zip(
            axes,
            [
                (y_te, pred_te, f"{self.model.name} test part (R² {self.v['r2']:.3f})"),
                (gdf.line_loss_w, self.g_pred, f"{self.gmodel.name} (R² {self.v['r2_g']:.3f})"),
            ],
            strict=True,
        ):
            ax.scatter(yt, yp, s=3, alpha=0.4)
            hi = float(max(np.max(yt), np.max(yp)))
            ax.plot([0, hi], [0, hi], "k--", lw=1)
            ax.set_xlabel("true line loss (W, power flow)")
            ax.set_ylabel("predicted (W)")
            ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(report / f"{NAME}_pred_vs_true.png", dpi=90)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3.8))
        ax.scatter(self.te.current_mean_a.to_numpy(), pred_te - y_te, s=3, alpha=0.4)
        ax.axhline(0, color="k", lw=1)
        ax.set_xlabel("mean phase current at the meter (A)")
        ax.set_ylabel("error (W)")
        ax.set_title("error vs load, training-feeder test part", fontsize=9)
        fig.tight_layout()
        fig.savefig(report / f"{NAME}_error_vs_load.png", dpi=90)
        plt.close(fig)

    def _body(self) -> str:
        v, te, pipe, model, gmodel = self.v, self.te, self.pipe, self.model, self.gmodel
        per_meter = (
            te.assign(err=np.abs(self.pred_te - self.y_te))
            .groupby("meter_id")
            .agg(mae_w=("err", "mean"), mean_loss_w=("line_loss_w", "mean"))
        )
        powers = pipe[1].powers_ if pipe else np.zeros((0, len(DESIGN)), int)
        coef = pipe[2].coef_ if pipe else np.zeros(0)
        terms = np.array(
            [" ".join(f"{n}^{e}" for n, e in zip(DESIGN, row, strict=True) if e) for row in powers]
        )
        top = np.argsort(-np.abs(coef))[:8]
        return f"""## What it predicts and from what

The served answer for a transformer or feeder-head reading is the technical loss of the
section behind the meter: **line losses** (learned) + for the transformer meter the
**transformer load loss** R_k·Σ I_p² and **core loss** P_fe·(V/Un)² (exact formulas of
the reading, not learned; mean absolute difference to the simulator's values on the test
part {v["trafo_err"]:.2f} W, the meter noise). `loss_category`: resistive / reactive = the load
losses split by the active / reactive share of the squared current (Σ P_p² vs Σ Q_p² at the
meter), core = no-load loss. `loss_pct` = loss / (|P at the meter| + transformer losses) × 100.
Customer readings get no feeder-loss answer (DEGRADED, said in `info.detail`).

Label: `losses.line_loss_w` of the simulator's power flow; target of the regression
ratio = line_loss / (R_eq·Σ I_p²) with R_eq the section's loss-equivalent resistance from
the network model (load allocation by annual energy), regressed on the dimensionless
descriptors {list(DESIGN)} (max-scaled; where along the feeder the current flows), polynomial
degree {self.d_best}, ridge α {self.a_best:g} (5-fold contiguous CV on the training part).

## Held-out results

| data | R² line loss | R² fixed loss factor | R² total loss (incl. exact transformer part) |
|---|---|---|---|
| {model.name} test part (time + meter hold-out, {len(te)} rows) | {v["r2"]:.4f} | {v["r2_base"]:.4f} | {v["r2_tot"]:.4f} (baseline {v["r2_tot_base"]:.4f}) |
| {gmodel.name} (other feeder, {len(self.gdf)} rows) | {v["r2_g"]:.4f} | {v["r2_g_base"]:.4f} | {v["r2_g_tot"]:.4f} |

Total-loss MAPE on the test part: {v["mape_tot"]:.2f} %.

![predicted vs true]({NAME}_pred_vs_true.png)

![error vs load]({NAME}_error_vs_load.png)

### Error by meter (test part)

{md_table(per_meter)}

### Largest coefficients (scaled inputs)

{md_table(pd.Series(coef[top], index=terms[top], name="coefficient")) if len(coef) else f"physics term only, ratio {self.icpt:.3f}"}
"""

    def report(self) -> TrainResult:
        self._plots()
        notes = (
            "Linear regression (ridge) on polynomial features: line loss = R_eq·ΣI² x a regressed ratio of "
            "dimensionless flow descriptors (R_eq from the network model), so it transfers between feeders; "
            "transformer load and core losses are exact formulas, not learned. "
            + f" Trained in {time.perf_counter() - self.started:.1f} s."
        )
        te, pipe = self.te, self.pipe
        rows = te.sample(n=min(20, len(te)), random_state=self.ctx.seed)
        return TrainResult(
            algorithm=(
                "ridge regression on polynomial features (physics-normalised, ONNX Runtime) "
                "+ exact transformer losses"
                if pipe
                else "physics term R_eq·ΣI² × one fitted loss ratio (CV chose degree 0: no regression graph) "
                "+ exact transformer losses"
            ),
            artifacts=self.artifacts,
            features=list(INPUTS),
            metrics=self.metrics,
            hyperparameters={
                "degree": self.d_best,
                "alpha": self.a_best,
                "inputs": list(INPUTS),
                "design": list(DESIGN),
            },
            training_data={
                "feeder": self.model.name,
                "rows": int(len(self.frame)),
                "other_feeder": self.gmodel.name,
                "other_rows": int(len(self.gdf)),
            },
            split={**self.parts.describe(), "cv_rows": int(len(self.tr))},
            cross_validation={
                "method": "5-fold contiguous KFold on the training part",
                "r2_by_setting": self.cv,
                "best": self.best,
            },
            report_md=self._body(),
            notes=notes,
            latency_rows=rows[list(FEATURE_NAMES)].to_numpy(float),
        )
