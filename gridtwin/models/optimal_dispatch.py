"""4.4 Optimal dispatch: exact LP when it fits the deadline, else its SVR surrogate.

The economic dispatch (`gridtwin.decision.dispatch`) is solved exactly with HiGHS while the
expected solve time fits the batch budget `DISPATCH_LP_BUDGET_MS` (default 2 ms, handed to the
model in its `ModelConfig`); the remaining items get the RBF-SVR surrogate (one ONNX Runtime call per target for the
whole batch). `solver` says which.
Applicability and materiality (docs/decisions.md): only the battery and genset that the
asset register lists at the meter are dispatched (a meter with neither: "no action", nothing to
dispatch; equipment other than the trained resources: the exact LP with the registered ratings),
and a plan that saves less than `ModelConfig.min_savings_eur_per_h` (1/h by default) averaged over
the look-ahead is answered "no action" (NORMAL, battery and genset idle). A plan worth making is
ADVISORY (an economic recommendation). The battery state of charge comes from this model's state store
(`<prefix>optimal_dispatch:{meter}:soc`, a fraction written by battery telemetry); when absent 50 % is assumed and `info.detail` says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np

from gridtwin.assets import Equipment
from gridtwin.decision.dispatch import (
    DispatchLP,
    DispatchParams,
    H,
    baseline_cost,
    forecasts,
    settle_first_hour,
)
from gridtwin.decision.equipment import NO_REGISTER, equipment_of, fetch_equipment
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
        # LPs of registered equipment other than the trained resources (built once each).
        self.lps: dict[tuple[float, float, float], DispatchLP] = {}

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        """Battery state of charge per item and each meter's battery/genset (asset register)."""
        if len(batch) == 0:
            return
        values = await state.get_many([state.key(m, "soc") for m in batch.meter_ids])
        await fetch_equipment(batch, state, self.name)
        batch.context[self.name]["soc"] = [None if v is None else float(v) for v in values]

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

    def resources(self, equipment: Equipment) -> DispatchParams:
        """The trained dispatch problem with the meter's registered battery and genset only."""
        battery = equipment.has_battery
        return replace(
            self.params,
            battery_kw=equipment.battery_kw if battery else 0.0,
            battery_kwh=equipment.battery_kwh if battery else self.params.battery_kwh,
            genset_kw=equipment.genset_kw if equipment.has_genset else 0.0,
        )

    def is_trained(self, params: DispatchParams) -> bool:
        """The trained resources (the surrogate applies), judged on the ratings that differ."""
        fields = ("battery_kw", "battery_kwh", "genset_kw")
        return all(float(getattr(params, f)) == float(getattr(self.params, f)) for f in fields)

    def lp_for(self, params: DispatchParams) -> DispatchLP:
        if self.is_trained(params):
            return self.lp
        key = (params.battery_kw, params.battery_kwh, params.genset_kw)
        if key not in self.lps:
            if len(self.lps) > 256:
                self.lps.clear()  # bounded: a register with many distinct sizes rebuilds them
            self.lps[key] = DispatchLP(params)
        return self.lps[key]

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.OptimalDispatch]:
        n = len(batch)
        demand = batch.column("active_power_total_w") / 1e3
        t_s = np.array([r.timestamp.seconds + r.timestamp.nanos * 1e-9 for r in batch.readings], float)
        context = batch.context.get(self.name) or {}
        stored = context.get("soc") or [None] * n
        soc = np.array([DEFAULT_SOC if s is None else min(max(s, 0.0), 1.0) for s in stored], float)
        valid = np.isfinite(demand)
        demand = np.where(valid, demand, 0.0)
        d, a, pr = forecasts(self.params, t_s, demand)
        base = baseline_cost(self.params, d, a, pr)
        equipment = equipment_of(batch, self.name)
        params = [None if e is None else self.resources(e) for e in equipment]
        dispatchable = np.array(
            [
                bool(valid[i]) and e is not None and (e.has_battery or e.has_genset)
                for i, e in enumerate(equipment)
            ],
            dtype=bool,
        )
        trained = dispatchable & np.array([p is not None and self.is_trained(p) for p in params], dtype=bool)
        setp, cost, solver = self.solve_trained(trained, t_s, demand, soc, d, a, pr)
        for i in np.flatnonzero(dispatchable & ~trained):  # other equipment: the exact LP
            res = self.lp_for(params[i]).solve(d[i], a[i], pr[i], soc[i])
            if res.ok:
                solver[i] = "lp"
                for k in setp:
                    setp[k][i] = getattr(res, k)
                cost[i] = res.cost
        out = []
        for i in range(n):
            if not valid[i]:
                out.append(self._degraded("no active power in the reading: no dispatch"))
            elif equipment[i] is None:
                out.append(self._degraded(NO_REGISTER))
            elif not dispatchable[i]:
                out.append(self.nothing_to_dispatch(float(demand[i])))
            else:
                plan = {k: float(v[i]) for k, v in setp.items()}
                out.append(
                    self.answer(
                        params[i],
                        plan,
                        (float(cost[i]), float(base[i])),
                        str(solver[i]),
                        stored[i],
                        (float(d[i, 0]), float(a[i, 0])),
                    )
                )
        return out

    def solve_trained(
        self,
        rows: np.ndarray,
        t_s: np.ndarray,
        demand: np.ndarray,
        soc: np.ndarray,
        d: np.ndarray,
        a: np.ndarray,
        pr: np.ndarray,
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """The trained resources' plan for `rows`: the exact LP while it fits the batch budget,
        the SVR surrogate (one ONNX call per target) for the rest."""
        n = len(rows)
        started = time.perf_counter()
        solver = np.array(["none"] * n, dtype=object)
        solver[rows] = "svr_surrogate"
        setp = {k: np.zeros(n) for k in ("grid_import_kw", "battery_kw", "genset_kw", "pv_curtailment_kw")}
        cost = np.zeros(n)
        for i in np.flatnonzero(rows):
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
            x = np.column_stack(
                [
                    demand,
                    soc,
                    a[:, 0],
                    np.sin(2 * np.pi * (t_s % 86400) / 86400),
                    np.cos(2 * np.pi * (t_s % 86400) / 86400),
                ]
            )[sur]
            settled = settle_first_hour(
                self.params,
                d[sur, 0],
                a[sur, 0],
                self.svr["battery_kw"](x),
                self.svr["genset_kw"](x),
                soc[sur],
            )
            for k in setp:
                setp[k][sur] = settled[k]
            cost[sur] = self.svr["cost"](x)
        return setp, cost, solver

    def answer(
        self,
        params: DispatchParams,
        plan: dict[str, float],
        costs: tuple[float, float],
        solver: str,
        soc: float | None,
        first_hour: tuple[float, float],
    ) -> assessment_pb2.OptimalDispatch:
        """A meter's plan, or "no action" (battery and genset idle) when its saving over the
        look-ahead is below the materiality threshold. `costs` = (plan, baseline) in EUR,
        `first_hour` = (demand, PV available) in kW."""
        cost, base = costs
        notes = [f"{solver}; costs in EUR over a {H}-h look-ahead"]
        if soc is None and params.battery_kw > 0:
            notes.append("battery SoC not reported: assumed 50 %")
        if solver == "svr_surrogate":
            notes.append(f"LP ({self.lp_ms:.2f} ms) exceeded the {self.budget_ms:g} ms budget")
        savings = base - cost
        per_hour = savings / H
        threshold = self.config.min_savings_eur_per_h
        if per_hour < threshold:
            demand, pv = first_hour
            idle = settle_first_hour(
                params, np.array([demand]), np.array([pv]), np.zeros(1), np.zeros(1), np.array([DEFAULT_SOC])
            )
            why = (
                f"no action: the optimal plan saves {savings:.2f} EUR over {H} h ({per_hour:.2f}/h), "
                f"below the {threshold:g}/h materiality threshold; battery and genset stay idle"
            )
            return assessment_pb2.OptimalDispatch(
                info=self.info(assessment_pb2.NORMAL, "; ".join([why, *notes])),
                dispatch_recommendation=assessment_pb2.DispatchSetpoint(
                    grid_import_kw=float(idle["grid_import_kw"][0]),
                    pv_curtailment_kw=float(idle["pv_curtailment_kw"][0]),
                ),
                expected_cost=base,
                cost_savings=0.0,
                solver=solver,
            )
        return assessment_pb2.OptimalDispatch(
            info=self.info(assessment_pb2.ADVISORY, "; ".join(notes)),
            dispatch_recommendation=assessment_pb2.DispatchSetpoint(**plan),
            expected_cost=cost,
            cost_savings=savings,
            solver=solver,
        )

    def nothing_to_dispatch(self, demand_kw: float) -> assessment_pb2.OptimalDispatch:
        return assessment_pb2.OptimalDispatch(
            info=self.info(
                assessment_pb2.NORMAL,
                "no action: the asset register lists no battery or genset at this meter (nothing to dispatch)",
            ),
            dispatch_recommendation=assessment_pb2.DispatchSetpoint(grid_import_kw=demand_kw),
            expected_cost=float("nan"),
            cost_savings=0.0,
            solver="none",
        )

    def _degraded(self, detail: str) -> assessment_pb2.OptimalDispatch:
        return assessment_pb2.OptimalDispatch(info=self.info(detail=detail, status=assessment_pb2.DEGRADED))
