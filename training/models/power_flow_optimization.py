"""3.3 Power flow optimisation: tap position and capacitor steps by MILP (scipy HiGHS).

The MILP (gridtwin.netopt.lp) is built from the network model's linearised loss and voltage
sensitivities. Served through a table of MILP solutions over head-end states
(gridtwin.netopt.policy) so a reading costs microseconds. Evaluation on test states (15-min
blocks of the test period of the training feeder, and of the other feeder): the true node
powers from the simulator, the served configuration chosen from the transformer meter's
reading, verified by a full power flow against the exhaustive search over every discrete
setting (full power flow each).
"""

from __future__ import annotations

import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.netopt.lp import optimise
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.policy import PolicyTable, build_table
from gridtwin.netopt.powerflow import evaluate_configs, exhaustive_optimum
from gridtwin.netopt.serving import save_feeders
from gridtwin.netopt.state import equivalent_state
from training.context import Metric, TrainResult
from training.netopt.dataset import model_for_dataset, network_features, true_states
from training.netopt.markdown import table as md_table
from training.spec import TrainingSpec
from training.split import split_by_time

NAME = "power_flow_optimization"
_P = ["active_power_a_w", "active_power_b_w", "active_power_c_w"]
_Q = ["reactive_power_a_var", "reactive_power_b_var", "reactive_power_c_var"]


def grid_axes(model: NetworkModel, quick: bool, sn_va: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Head-end state grid relative to the transformer rating: P -0.5..0.6 Sn (PV export to
    peak), Q -0.05..0.15 Sn, busbar voltage 0.96..1.08 pu."""
    n_p, n_q, n_v = (7, 3, 3) if quick else (13, 5, 5)
    return (
        np.linspace(-0.5, 0.6, n_p) * sn_va,
        np.linspace(-0.05, 0.15, n_q) * sn_va,
        np.linspace(0.96, 1.08, n_v),
    )


def evaluate(model: NetworkModel, table: PolicyTable, states, idx: np.ndarray) -> pd.DataFrame:
    """Served path vs LP-on-reading vs exhaustive optimum, by full power flow on true states."""
    s_true = states.s_node[:, :, idx]
    e_true = states.e_pu[idx]
    ex = exhaustive_optimum(model, s_true, e_true)
    f = states.features.iloc[idx]
    p = f[_P].to_numpy()
    q = f[_Q].to_numpy()
    v = f.voltage_mean_pu.to_numpy()
    look = table.lookup(p.sum(axis=1), q.sum(axis=1), v)
    s_eq, e_eq, _ = equivalent_state(model, p, q, v)
    rows = []
    for j in range(len(idx)):
        lp_sol = optimise(model, s_eq[:, :, j], float(e_eq[j]))
        oracle = optimise(model, s_true[:, :, j], float(e_true[j]))
        cfg_t = np.array([0, look["tap"][j], lp_sol.tap, oracle.tap])
        cfg_s = np.vstack([np.zeros(model.n_banks, int), look["steps"][j], lp_sol.steps, oracle.steps])
        loss, vmin, vmax = evaluate_configs(model, s_true[:, :, j], float(e_true[j]), cfg_t, cfg_s)
        viol = np.maximum(model.vmin_pu - vmin, 0) + np.maximum(vmax - model.vmax_pu, 0)
        opt = float(ex["loss_w"][j])
        rows.append(
            {
                "time": states.times[idx[j]],
                "opt_loss_w": opt,
                "opt_feasible": bool(ex["feasible"][j]),
                "opt_tap": int(ex["tap"][j]),
                "opt_steps": str(ex["steps"][j].tolist()),
                "nothing_loss_w": loss[0],
                "served_loss_w": loss[1],
                "lp_loss_w": loss[2],
                "oracle_loss_w": loss[3],
                "served_viol": viol[1],
                "lp_viol": viol[2],
                "nothing_viol": viol[0],
                "served_tap": int(look["tap"][j]),
                "served_steps": str(look["steps"][j].tolist()),
                "lp_ms": lp_sol.solve_ms,
                "served_loss_after_pred_w": float(look["loss_after"][j]),
            }
        )
    out = pd.DataFrame(rows)
    for k in ("nothing", "served", "lp", "oracle"):
        out[f"{k}_gap"] = out[f"{k}_loss_w"] / out.opt_loss_w - 1
    return out


SHOW = [
    "time",
    "opt_loss_w",
    "opt_tap",
    "opt_steps",
    "served_tap",
    "served_steps",
    "served_gap",
    "lp_gap",
    "oracle_gap",
    "nothing_gap",
]


def _rating_va(fdir, model: NetworkModel) -> float:
    """The transformer's rating Sn (VA) from the meter table's rated current."""
    meters = pd.read_parquet(fdir / "meters.parquet")
    return float(meters.query("kind == 'transformer'").rated_current_a.iloc[0]) * 3 * model.un


class Spec(TrainingSpec):
    """A table of verified MILP solutions over head-end states per feeder; no fitted parameters."""

    name = NAME

    def data(self) -> None:
        """Both feeders' network models and the simulator's true node states."""
        ctx = self.ctx
        self.started = time.perf_counter()
        self.feeders = []
        for which in ("train", "test"):
            fdir = ctx.feeder_dir(which)
            model = model_for_dataset(fdir)
            readings = ctx.table("readings", which)
            states = true_states(model, fdir, network_features(readings), readings)
            self.feeders.append({"which": which, "fdir": fdir, "model": model, "states": states})

    def split(self) -> None:
        """Test states: the last 15 % of the period on the training feeder (time split with a
        one-block embargo), any block on the other feeder."""
        for f in self.feeders:
            times = f["states"].times
            if f["which"] == "train":
                f["pool"] = np.flatnonzero(split_by_time(times, embargo=pd.Timedelta(minutes=15)).test)
            else:
                f["pool"] = np.arange(len(times))

    def fit(self) -> None:
        """The MILP solved on the grid of head-end states of each feeder."""
        for f in self.feeders:
            model = f["model"]
            f["table"], f["solve_ms"] = build_table(
                model, *grid_axes(model, self.ctx.quick, _rating_va(f["fdir"], model))
            )

    def export(self) -> None:
        art = self.ctx.path("power_flow_optimization.npz")
        save_feeders(art, [f["model"] for f in self.feeders], [f["table"] for f in self.feeders])
        self.artifacts = {"model": art}

    def evaluate(self) -> None:
        ctx, self.evals = self.ctx, {}
        for f in self.feeders:
            pool, train = f["pool"], f["which"] == "train"
            n_eval = (6 if train else 4) if ctx.quick else (40 if train else 24)
            idx = np.sort(ctx.rng.choice(pool, size=min(n_eval, len(pool)), replace=False))
            self.evals[f["model"].name] = evaluate(f["model"], f["table"], f["states"], idx)
            if train:
                rows = f["states"].features.iloc[idx]
                self.latency = rows[list(FEATURE_NAMES)].to_numpy(float)
                self.latency_meters = rows.meter_id.tolist()
        self.ev_tr = self.evals[self.feeders[0]["model"].name]
        self.ev_te = self.evals[self.feeders[1]["model"].name]
        self.all_ms = np.concatenate([f["solve_ms"] for f in self.feeders])
        self.metrics = self._metrics()

    def _metrics(self) -> list[Metric]:
        ev_tr, ev_te = self.ev_tr, self.ev_te
        return [
            Metric(
                "loss_gap_to_exhaustive_mean",
                float(ev_tr.served_gap.mean()),
                float(ev_tr.nothing_gap.mean()),
                "do nothing (present tap, banks off)",
                "<= 0.01",
                higher_is_better=False,
            ),
            Metric(
                "loss_gap_to_exhaustive_other_feeder_mean",
                float(ev_te.served_gap.mean()),
                float(ev_te.nothing_gap.mean()),
                "do nothing",
                "<= 0.01",
                higher_is_better=False,
            ),
            Metric(
                "loss_gap_lp_on_reading_mean",
                float(ev_tr.lp_gap.mean()),
                None,
                "",
                "<= 0.01",
                higher_is_better=False,
            ),
            Metric(
                "efficiency_gain_pct_mean",
                float((1 - ev_tr.served_loss_w / ev_tr.nothing_loss_w).mean() * 100),
                float((1 - ev_tr.opt_loss_w / ev_tr.nothing_loss_w).mean() * 100),
                "exhaustive optimum",
            ),
            Metric(
                "lp_solve_ms_p95",
                float(np.percentile(self.all_ms, 95)),
                None,
                "",
                "<= 50",
                higher_is_better=False,
            ),
            Metric(
                "served_voltage_violations",
                float((ev_tr.served_viol > 1e-9).sum() + (ev_te.served_viol > 1e-9).sum()),
                float((ev_tr.nothing_viol > 1e-9).sum() + (ev_te.nothing_viol > 1e-9).sum()),
                "do nothing",
                higher_is_better=False,
            ),
        ]

    def _plots(self) -> None:
        report, all_ms = self.ctx.report_dir, self.all_ms
        report.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(7, 3.8))
        for name, ev in self.evals.items():
            ax.scatter(ev.opt_loss_w, ev.served_gap * 100, s=12, label=f"served, {name}")
            ax.scatter(ev.opt_loss_w, ev.nothing_gap * 100, s=12, marker="x", label=f"do nothing, {name}")
        ax.axhline(1, color="r", lw=1, ls="--", label="goal 1 %")
        ax.set_xlabel("exhaustive-search optimum loss (W)")
        ax.set_ylabel("loss above the optimum (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(report / f"{NAME}_gap.png", dpi=90)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3.4))
        ax.hist(all_ms, bins=30)
        ax.axvline(50, color="r", ls="--")
        ax.set_xlabel("linearisation + MILP solve (ms) on the grid states")
        fig.tight_layout()
        fig.savefig(report / f"{NAME}_solve_ms.png", dpi=90)
        plt.close(fig)

    def _body(self) -> str:
        m0, table0, all_ms = self.feeders[0]["model"], self.feeders[0]["table"], self.all_ms
        return (
            f"""## Problem

Decision: transformer tap ({m0.tap_min}..{m0.tap_max}, {m0.tap_step_pct} % per step, HV-side: +1 lowers the LV
voltage) and the steps of three switched capacitor banks {[str(b) for b in m0.bank_names]} ({[int(b) for b in m0.bank_steps]} steps of
{[float(q) for q in m0.bank_q_step / 1e3]} kvar; documented additions in gridtwin/netopt/network.py), minimising
line + transformer load + core losses with every node voltage within EN 50160 ±10 %.
MILP (HiGHS) on sensitivities from a handful of power flows; solved at training on a grid of head-end states
(P × Q × V = {table0.tap.shape}) per feeder, each solution verified by a full power flow; serving looks the
configuration up (nearest state) and interpolates the verified losses. Present state assumed: tap 0, banks off.

Reading -> feeder: transformer meter = head-end (load allocated by annual energy, matched to the measured
per-phase P/Q and busbar voltage); feeder-head meter extrapolated (DEGRADED); customer meter: no answer
(DEGRADED). Tariff: env `GRIDTWIN_TARIFF_PER_KWH` (default 0.30 per kWh); cost_savings per hour.

## Held-out evaluation (true simulator states, full power flow)

Gap = loss of the configuration / exhaustive-search optimum − 1 (every tap × bank combination,
{len(m0.taps) * int(np.prod(m0.bank_steps + 1))} full power flows per state).
"served" = the table the service uses, fed the transformer meter's reading; "lp" = the MILP on the
reading's equivalent state; "oracle" = the MILP on the true node powers (algorithm error only).

| feeder | states | served mean / max gap | MILP on reading | MILP on true state | do nothing |
|---|---|---|---|---|---|
"""
            + "\n".join(
                f"| {n} | {len(e)} | {e.served_gap.mean():.4%} / {e.served_gap.max():.4%} | {e.lp_gap.mean():.4%} | "
                f"{e.oracle_gap.mean():.4%} | {e.nothing_gap.mean():.4%} |"
                for n, e in self.evals.items()
            )
            + f"""

MILP solve (linearisation + HiGHS) on {len(all_ms)} grid states: median {np.median(all_ms):.1f} ms,
p95 {np.percentile(all_ms, 95):.1f} ms (2-core machine shared with other jobs).

![gap]({NAME}_gap.png)

![solve time]({NAME}_solve_ms.png)

### Test states ({m0.name})

{md_table(self.ev_tr[SHOW].set_index("time"))}
"""
        )

    def report(self) -> TrainResult:
        self._plots()
        m0 = self.feeders[0]["model"]
        notes = (
            "MILP (scipy HiGHS) over tap and capacitor-bank steps from linearised sensitivities; served as a table of "
            "verified MILP solutions over head-end states (latency). "
            + f" Trained in {time.perf_counter() - self.started:.1f} s."
        )
        return TrainResult(
            algorithm="MILP (scipy HiGHS) on linearised loss/voltage sensitivities, solved at training; served as a "
            "lookup table of verified solutions",
            artifacts=self.artifacts,
            features=_P + _Q + ["voltage_mean_pu"],
            metrics=self.metrics,
            hyperparameters={
                "grid": list(self.feeders[0]["table"].tap.shape),
                "tap_range": [m0.tap_min, m0.tap_max],
                "banks": [str(b) for b in m0.bank_names],
                "vmin_pu": m0.vmin_pu,
                "vmax_pu": m0.vmax_pu,
            },
            training_data={
                "feeders": [f["model"].name for f in self.feeders],
                "eval_states": {k: len(v) for k, v in self.evals.items()},
            },
            split={
                "method": "test states: last 15 % of the training feeder's period (15-min embargo) + the other feeder"
            },
            cross_validation={
                "method": "none: the optimiser has no fitted parameters (grid resolution fixed by profile)"
            },
            report_md=self._body(),
            notes=notes,
            latency_rows=self.latency,
            extra={"latency_meter_ids": self.latency_meters},
        )
