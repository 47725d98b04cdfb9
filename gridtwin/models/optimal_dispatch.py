"""4.4 Optimal dispatch: exact LP when it fits the deadline, else its SVR surrogate.

The economic dispatch (`gridtwin.decision.dispatch`) is solved exactly with HiGHS while the
expected solve time fits the batch budget `DISPATCH_LP_BUDGET_MS` (default 2 ms, handed to the
model in its `ModelConfig`); the remaining items get the RBF-SVR surrogate (one ONNX Runtime call per target for the
whole batch). `solver` says which.
The battery state of charge comes from this model's state store
(`<prefix>optimal_dispatch:{meter}:soc`, a fraction written by battery telemetry); when absent 50 % is assumed and `info.detail` says so.
"""

from __future__ import annotations

import json
import time

import numpy as np

from gridtwin.decision.dispatch import DispatchLP, DispatchParams, baseline_cost, forecasts, settle_first_hour
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2

TARGETS = ("battery_kw", "genset_kw", "cost")
DEFAULT_SOC = 0.5


class Surrogate:
    """One target's SVR (standardised inputs in the graph) and its de-standardisation."""

    def __init__(self, graph: OnnxModel, y_mean: float, y_scale: float) -> None:
        self.graph, self.y_mean, self.y_scale = graph, float(y_mean), float(y_scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.graph.run_one(x)[:, 0].astype(float) * self.y_scale + self.y_mean


class Model(ServedModel):
    name = "optimal_dispatch"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        spec = json.loads(entry.artifact("params").read_text())
        raw = spec["dispatch"]
        self.lp_ms = float(spec["lp_solve_ms"])
        self.svr = {t: Surrogate(OnnxModel(entry.artifact(t)), **spec["targets"][t]) for t in TARGETS}
        raw = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        self.params = DispatchParams(**raw)
        self.lp = DispatchLP(self.params)
        self.budget_ms = self.config.dispatch_lp_budget_ms

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        if len(batch) == 0:
            return
        values = await state.get_many([state.key(m, "soc") for m in batch.meter_ids])
        batch.context[self.name] = [None if v is None else float(v) for v in values]

    def warm(self, batch: ModuleBatch) -> None:
        """Measure this process's LP solve time (it decides LP vs surrogate), then predict."""
        d, a, pr = forecasts(self.params, np.array([12 * 3600.0]), np.array([40.0]))
        times = []
        for _ in range(5):
            started = time.perf_counter()
            self.lp.solve(d[0], a[0], pr[0], DEFAULT_SOC)
            times.append(time.perf_counter() - started)
        self.lp_ms = float(np.median(times) * 1e3)
        self.predict(batch)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.OptimalDispatch]:
        n = len(batch)
        started = time.perf_counter()
        demand = batch.column("active_power_total_w") / 1e3
        t_s = np.array([r.timestamp.seconds + r.timestamp.nanos * 1e-9 for r in batch.readings], float)
        stored = batch.context.get(self.name) or [None] * n
        soc = np.array([DEFAULT_SOC if s is None else min(max(s, 0.0), 1.0) for s in stored], float)
        valid = np.isfinite(demand)
        demand = np.where(valid, demand, 0.0)
        d, a, pr = forecasts(self.params, t_s, demand)
        base = baseline_cost(self.params, d, a, pr)
        x = np.column_stack(
            [
                demand,
                soc,
                a[:, 0],
                np.sin(2 * np.pi * (t_s % 86400) / 86400),
                np.cos(2 * np.pi * (t_s % 86400) / 86400),
            ]
        )
        solver = np.array(["svr_surrogate"] * n, dtype=object)
        setp = {k: np.zeros(n) for k in ("grid_import_kw", "battery_kw", "genset_kw", "pv_curtailment_kw")}
        cost = np.zeros(n)
        for i in range(n):
            if not valid[i]:
                continue
            if (time.perf_counter() - started) * 1e3 + self.lp_ms > self.budget_ms:
                break
            res = self.lp.solve(d[i], a[i], pr[i], soc[i])
            if not res.ok:
                continue
            solver[i] = "lp"
            for k in setp:
                setp[k][i] = getattr(res, k)
            cost[i] = res.cost
        sur = solver == "svr_surrogate"
        if sur.any():
            xs = x[sur]
            settled = settle_first_hour(
                self.params,
                d[sur, 0],
                a[sur, 0],
                self.svr["battery_kw"](xs),
                self.svr["genset_kw"](xs),
                soc[sur],
            )
            for k in setp:
                setp[k][sur] = settled[k]
            cost[sur] = self.svr["cost"](xs)
        out = []
        for i in range(n):
            if not valid[i]:
                out.append(
                    assessment_pb2.OptimalDispatch(
                        info=self.info(
                            detail="no active power in the reading: no dispatch",
                            status=assessment_pb2.DEGRADED,
                        )
                    )
                )
                continue
            notes = [f"{solver[i]}; costs in EUR over a 24-h look-ahead"]
            if stored[i] is None:
                notes.append("battery SoC not reported: assumed 50 %")
            if solver[i] == "svr_surrogate":
                notes.append(f"LP ({self.lp_ms:.2f} ms) exceeded the {self.budget_ms:g} ms budget")
            out.append(
                assessment_pb2.OptimalDispatch(
                    info=self.info(assessment_pb2.NORMAL, "; ".join(notes)),
                    dispatch_recommendation=assessment_pb2.DispatchSetpoint(
                        grid_import_kw=float(setp["grid_import_kw"][i]),
                        battery_kw=float(setp["battery_kw"][i]),
                        genset_kw=float(setp["genset_kw"][i]),
                        pv_curtailment_kw=float(setp["pv_curtailment_kw"][i]),
                    ),
                    expected_cost=float(cost[i]),
                    cost_savings=float(base[i] - cost[i]),
                    solver=str(solver[i]),
                )
            )
        return out
