"""4.1 Reactive power compensation: feed-forward NN learning power-flow-optimal bank steps.

Label: for every 15-min state of the training feeder, the capacitor-bank steps (present tap)
that minimise losses with every voltage within EN 50160 ±10 %, found by exhaustive search
with a full power flow on the simulator's true node powers (gridtwin.netopt). The network
sees only the transformer meter's reading (the served input). The analytic Qc for the target
PF (`required_compensation_kvar`) is a formula and is computed exactly at serving, not learned.
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import KFold
from sklearn.neural_network import MLPRegressor

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.nn_inputs import NN_INPUTS, nn_inputs
from gridtwin.netopt.powerflow import evaluate_configs, exhaustive_optimum
from gridtwin.netopt.serving import save_feeders
from gridtwin.physics.power import compensation_var
from gridtwin.serving.runtime import OnnxModel
from training.context import Metric, TrainContext, TrainResult
from training.netopt.dataset import model_for_dataset, network_features, true_states
from training.onnx_export import sklearn_to_onnx
from training.spec import TrainingSpec
from training.split import split_by_time

NAME = "reactive_power"
MAX_ITER = 600
MAX_STATES_QUICK, MAX_STATES_FULL = 96, 700
_P = ["active_power_a_w", "active_power_b_w", "active_power_c_w"]
_Q = ["reactive_power_a_var", "reactive_power_b_var", "reactive_power_c_var"]
SERVED_COLUMNS = [
    "voltage_mean_pu",
    "win10min_active_power_total_w_mean",
    "win10min_reactive_power_total_var_mean",
    "hour_of_day_sin",
    "hour_of_day_cos",
    "power_factor_total",
    "active_power_total_w",
    "reactive_power_total_var",
]
PARITY_TOL = 1e-4  # ONNX Runtime (float32) vs scikit-learn (float64), bank steps (rounded at serving)


def inputs(f: pd.DataFrame) -> np.ndarray:
    n = len(f)
    return nn_inputs(
        f[_P].to_numpy(),
        f[_Q].to_numpy(),
        f.voltage_mean_pu.to_numpy(),
        np.ones((n, 3)),
        f.win10min_active_power_total_w_mean.to_numpy(),
        f.win10min_reactive_power_total_var_mean.to_numpy(),
        f.hour_of_day_sin.to_numpy(),
        f.hour_of_day_cos.to_numpy(),
    )


def to_steps(model: NetworkModel, y: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(y), 0, model.bank_steps[None]).astype(int)


def kvar(model: NetworkModel, steps: np.ndarray) -> np.ndarray:
    return (steps * model.bank_q_step[None]).sum(axis=1) / 1e3


def analytic_rule(model: NetworkModel, f: pd.DataFrame, target_pf: float = 0.95) -> np.ndarray:
    """Naive baseline: switch in the analytic Qc to PF 0.95 at the head, busbar bank first."""
    p = f.active_power_total_w.to_numpy()
    q = f.reactive_power_total_var.to_numpy()
    pf = np.abs(p) / np.maximum(np.hypot(p, q), 1e-9)
    qc = np.where((p > 0) & (q > 0), np.maximum(compensation_var(p, pf, target_pf), 0), 0.0)
    steps = np.zeros((len(f), model.n_banks), int)
    rest = qc.copy()
    for k in range(model.n_banks):
        s = np.clip(np.rint(rest / model.bank_q_step[k]), 0, model.bank_steps[k]).astype(int)
        steps[:, k] = s
        rest = rest - s * model.bank_q_step[k]
    return steps


def make_mlp(hidden: tuple[int, ...], alpha: float, seed: int) -> MLPRegressor:
    """scikit-learn's MLP (kept rather than Keras: an 11-input tabular regression on ≤ 700
    states, cross-validated over 2–6 settings × 5 folds in seconds; skl2onnx converts it
    exactly), ReLU, Adam."""
    return MLPRegressor(hidden_layer_sizes=hidden, alpha=alpha, max_iter=MAX_ITER, random_state=seed)


def export_mlp(net: MLPRegressor, path, held_out: np.ndarray) -> tuple[OnnxModel, float]:
    """ONNX export (skl2onnx, float32) and its largest |ONNX − scikit-learn| on held-out rows."""
    sklearn_to_onnx(net, held_out.shape[1], path)
    served = OnnxModel(path)
    # skl2onnx flattens a multi-output MLP's answer to (n·outputs, 1): reshaped row-major, as serving does
    onnx_steps = served.run_one(held_out).reshape(len(held_out), -1)
    gap = float(np.max(np.abs(onnx_steps - net.predict(held_out).reshape(len(held_out), -1))))
    if gap > PARITY_TOL:
        raise RuntimeError(f"ONNX export differs from scikit-learn by {gap:.3g} (> {PARITY_TOL})")
    return served, gap


def _cross_validate(ctx: TrainContext, model: NetworkModel, x, steps_opt, fit_rows) -> tuple[dict, list]:
    """5-fold contiguous CV on train+val: mean kvar error of the rounded plan per setting."""
    grid = (
        [((16,), 1e-1), ((32, 16), 1e-1)]
        if ctx.quick
        else [(h, a) for h in ((16,), (32,), (32, 16)) for a in (1e-3, 1e-1)]
    )
    y = steps_opt.astype(float)
    cv = {}
    for h, a in grid:
        errs = []
        for fi, vi in KFold(5, shuffle=False).split(fit_rows):
            tr_i, va_i = fit_rows[fi], fit_rows[vi]
            mean, std = x[tr_i].mean(axis=0), x[tr_i].std(axis=0) + 1e-9
            net = make_mlp(h, a, ctx.seed).fit((x[tr_i] - mean) / std, y[tr_i])
            pred = to_steps(model, net.predict((x[va_i] - mean) / std).reshape(len(va_i), -1))
            errs.append(np.mean(np.abs(kvar(model, pred) - kvar(model, steps_opt[va_i]))))
        cv[f"hidden={h},alpha={a:g}"] = float(np.mean(errs))
    return cv, grid


def _evaluate(model: NetworkModel, states, opt: dict, test_rows, pred, base) -> dict:
    """Full power flow of each held-out plan (NN and analytic rule) on the true state."""
    loss_nn, loss_base, viol_nn = [], [], []
    for j, r in enumerate(test_rows):
        cfg = np.vstack([pred[j], base[j]])
        loss, vmin, vmax = evaluate_configs(
            model, states.s_node[:, :, r], float(states.e_pu[r]), np.zeros(2, int), cfg
        )
        loss_nn.append(loss[0])
        loss_base.append(loss[1])
        viol_nn.append(max(model.vmin_pu - vmin[0], 0) + max(vmax[0] - model.vmax_pu, 0))
    loss_opt = opt["loss_w"][test_rows]
    steps_opt = opt["steps"][test_rows]
    k_opt = kvar(model, steps_opt)
    denom = max(float(np.mean(k_opt)), 1e-9)
    return {
        "gap_nn": np.array(loss_nn) / loss_opt - 1,
        "gap_base": np.array(loss_base) / loss_opt - 1,
        "k_opt": k_opt,
        "k_nn": kvar(model, pred),
        "k_base": kvar(model, base),
        "denom": denom,
        "kerr": float(np.mean(np.abs(kvar(model, pred) - k_opt)) / denom * 100),
        "kerr_base": float(np.mean(np.abs(kvar(model, base) - k_opt)) / denom * 100),
        "exact": float(np.mean((pred == steps_opt).all(axis=1))),
        "exact_base": float(np.mean((base == steps_opt).all(axis=1))),
        "violations": float(np.sum(np.array(viol_nn) > 1e-9)),
    }


def _metrics(e: dict) -> list[Metric]:
    rule = "analytic Qc to PF 0.95, busbar first"
    return [
        Metric(
            "loss_gap_to_optimum_mean",
            float(e["gap_nn"].mean()),
            float(e["gap_base"].mean()),
            rule,
            "<= 0.01",
            False,
        ),
        Metric("kvar_error_pct_of_optimum", e["kerr"], e["kerr_base"], rule, "<= 5", higher_is_better=False),
        Metric("exact_plan_rate", e["exact"], e["exact_base"], "analytic rule"),
        Metric("voltage_violations", e["violations"], None, "", higher_is_better=False),
    ]


def _plot(ctx: TrainContext, e: dict) -> None:
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    axes[0].scatter(e["k_opt"], e["k_nn"], s=12, label="NN")
    axes[0].scatter(e["k_opt"], e["k_base"], s=12, marker="x", label="analytic PF 0.95 rule")
    hi = float(max(e["k_opt"].max(), e["k_nn"].max(), e["k_base"].max(), 1))
    axes[0].plot([0, hi], [0, hi], "k--", lw=1)
    axes[0].set_xlabel("optimal compensation (kvar, exhaustive search)")
    axes[0].set_ylabel("recommended (kvar)")
    axes[0].legend(fontsize=8)
    axes[1].hist([e["gap_nn"] * 100, e["gap_base"] * 100], bins=20, label=["NN", "analytic rule"])
    axes[1].axvline(1, color="r", ls="--")
    axes[1].set_xlabel("loss above the optimum (%)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ctx.report_dir / f"{NAME}_eval.png", dpi=90)
    plt.close(fig)


def _report(model: NetworkModel, n_states: int, n_test: int, hidden, alpha: float, e: dict) -> str:
    return f"""## Outputs

* `power_factor`: the reading's signed total PF (exact, standards.md "Power").
* `required_compensation_kvar`: Qc = P·(tan φ1 − tan φ2) to the target PF (env `GRIDTWIN_TARGET_PF`,
  default 0.95), exact (`gridtwin.physics.power.compensation_var`); 0 for export or leading PF.
* `recommended_compensation_kvar` / `capacitor_switching_plan`: the NN's bank steps (rounded,
  clipped to the bank sizes) for banks {list(map(str, model.bank_names))} ({list(map(int, model.bank_steps))} steps of
  {list(map(float, model.bank_q_step / 1e3))} kvar), the compensation that minimises losses with voltages in
  EN 50160 ±10 %. `expected_power_factor`: head-end PF with the recommended kvar (kvar at the measured voltage).
* Transformer meter = head-end of its feeder; feeder-head meter extrapolated (DEGRADED); customer meter:
  PF and analytic Qc for the connection only (DEGRADED). The NN is feeder-specific (its banks): other
  feeders answer with PF and analytic Qc only (DEGRADED).

## Training

Labels: exhaustive search over {int(np.prod(model.bank_steps + 1))} bank combinations (full power flow each,
present tap) on {n_states} true 15-min states of {model.name}; inputs {list(NN_INPUTS)} from the
transformer meter's reading at the middle of the block. Split by time (70/15/15, 15-min embargo);
MLP {hidden}, α {alpha:g} chosen by 5-fold contiguous CV (mean kvar error) on train+val; scikit-learn's
MLPRegressor exported to ONNX and served by ONNX Runtime.

## Held-out ({n_test} states)

| | NN | analytic PF-0.95 rule |
|---|---|---|
| mean loss above optimum | {e["gap_nn"].mean():.4%} | {e["gap_base"].mean():.4%} |
| max loss above optimum | {e["gap_nn"].max():.4%} | {e["gap_base"].max():.4%} |
| kvar error (% of mean optimum {e["denom"]:.1f} kvar) | {e["kerr"]:.2f} % | {e["kerr_base"]:.2f} % |
| plan identical to the optimum | {e["exact"]:.1%} | {e["exact_base"]:.1%} |

![evaluation]({NAME}_eval.png)
"""


class Spec(TrainingSpec):
    """MLP on head-end features predicting the power-flow-optimal bank steps (exhaustive labels)."""

    name = "reactive_power"

    def data(self) -> None:
        """True feeder states; label cost is 125 full power flows per state, so the states are
        capped (evenly drawn) to the profile's budget."""
        ctx = self.ctx
        self.started = time.perf_counter()
        fdir = ctx.feeder_dir("train")
        self.model = model_for_dataset(fdir)
        readings = ctx.table("readings", "train")
        feats = network_features(readings, fdir / "readings.parquet")
        max_states = MAX_STATES_QUICK if ctx.quick else MAX_STATES_FULL
        self.states = true_states(self.model, fdir, feats, readings, max_states=max_states, rng=ctx.rng)

    def features(self) -> None:
        """Labels: the exhaustive optimum's bank steps at the present tap; inputs: head-end features."""
        self.opt = exhaustive_optimum(self.model, self.states.s_node, self.states.e_pu, taps=np.array([0]))
        self.x = inputs(self.states.features)

    def split(self) -> None:
        self.parts = split_by_time(self.states.times, embargo=pd.Timedelta(minutes=15))
        self.fit_rows = np.flatnonzero(self.parts.train | self.parts.val)
        self.test_rows = np.flatnonzero(self.parts.test)

    def fit(self) -> None:
        x, fit_rows = self.x, self.fit_rows
        self.cv, grid = _cross_validate(self.ctx, self.model, x, self.opt["steps"], fit_rows)
        self.best = min(self.cv, key=self.cv.get)
        self.h_best, self.a_best = grid[list(self.cv).index(self.best)]
        self.mean, self.std = x[fit_rows].mean(axis=0), x[fit_rows].std(axis=0) + 1e-9
        self.net = make_mlp(self.h_best, self.a_best, self.ctx.seed).fit(
            (x[fit_rows] - self.mean) / self.std, self.opt["steps"][fit_rows].astype(float)
        )

    def export(self) -> None:
        ctx = self.ctx
        art = ctx.path("reactive_power.npz")
        save_feeders(art, [self.model])
        with np.load(art) as z:
            data = dict(z)
        np.savez(art, **data, mlp_mean=self.mean, mlp_std=self.std)
        self.xs_test = (self.x[self.test_rows] - self.mean) / self.std
        self.served, self.parity = export_mlp(self.net, ctx.path("reactive_power_mlp.onnx"), self.xs_test)
        self.artifacts = {"model": art, "mlp": ctx.path("reactive_power_mlp.onnx")}

    def evaluate(self) -> None:
        """Held-out evaluation through the served graph, beside the analytic rule."""
        model, states, test_rows = self.model, self.states, self.test_rows
        pred = to_steps(model, self.served.run_one(self.xs_test).reshape(len(test_rows), -1))
        self.e = _evaluate(
            model, states, self.opt, test_rows, pred, analytic_rule(model, states.features.iloc[test_rows])
        )
        self.metrics = _metrics(self.e)

    def report(self) -> TrainResult:
        _plot(self.ctx, self.e)
        states, test_rows = self.states, self.test_rows
        notes = (
            "Feed-forward NN (scikit-learn MLPRegressor, exported to ONNX, served by ONNX Runtime) on head-end "
            "features predicting the power-flow-optimal bank steps; analytic Qc exact. "
            + f" Trained in {time.perf_counter() - self.started:.1f} s."
        )
        return TrainResult(
            algorithm="Feed-forward NN (scikit-learn MLP, ReLU; ONNX Runtime) on head-end features -> "
            "power-flow-optimal capacitor steps; analytic Qc exact",
            artifacts=self.artifacts,
            features=_P + _Q + SERVED_COLUMNS,
            metrics=self.metrics,
            hyperparameters={"hidden": list(self.h_best), "alpha": self.a_best, "inputs": list(NN_INPUTS)},
            training_data={"feeder": self.model.name, "states": int(len(states.times))},
            split={**self.parts.describe(), "unit": "15-min states"},
            cross_validation={
                "method": "5-fold contiguous KFold on train+val",
                "kvar_mae_by_setting": self.cv,
                "best": self.best,
            },
            report_md=_report(
                self.model, len(states.times), len(test_rows), self.h_best, self.a_best, self.e
            ),
            notes=notes,
            latency_rows=states.features.iloc[test_rows[:20]][list(FEATURE_NAMES)].to_numpy(float),
            extra={
                "onnx_parity": {
                    "max_abs": self.parity,
                    "tolerance": PARITY_TOL,
                    "units": "bank steps",
                    "rows": len(test_rows),
                }
            },
        )
