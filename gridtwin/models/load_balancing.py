"""4.2 Load balancing: which single-phase loads to move to which phase (TOPSIS plan).

Answers for the transformer meter (`<prefix>-TR`, all customers) and feeder-head meters
(`<prefix>-F<k>`, that feeder's customers) of the feeder in the artifact. Customer loads are
estimated from their typical hour-of-day profile scaled to the meter's measured phase totals;
`vuf_before_pct` / `expected_vuf_pct` are the worst customer-node VUF of the linearised
sequence model (`gridtwin.decision.balancing`) before and after the moves.

Materiality and applicability (docs/decisions.md): moves are proposed only where the
asset register says the single-phase loads under the meter can be switched between phases
(`switchable_phases`) and the worst-node VUF reaches `ModelConfig.vuf_action_pct` (1 % by
default; EN 50160 §4.2.5 allows 2 % for 95 % of the 10-min values of a week). Otherwise the
answer is "no action" (NORMAL, no moves, expected VUF = present). Severity follows the
consequence: ADVISORY for an imbalance within the EN 50160 limit, WARNING above it.
"""

from __future__ import annotations

import json

import numpy as np

from gridtwin.decision.balancing import PHASES, plan_moves
from gridtwin.decision.equipment import NO_REGISTER, equipment_of, fetch_equipment
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2

P_COLS = ("active_power_a_w", "active_power_b_w", "active_power_c_w")
EN50160_VUF_LIMIT_PCT = 2.0  # EN 50160 §4.2.5: 95 % of the 10-min mean values within 2 %
ESTIMATE_NOTE = (
    "customer loads estimated from hour-of-day profiles scaled to the measured phase totals; "
    "VUF = worst customer node, linearised sequence model"
)


class Model(ServedModel):
    name = "load_balancing"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        with np.load(entry.artifact("model")) as z:
            self.z1 = z["z1_re"] + 1j * z["z1_im"]
            self.node, self.phase, self.head = z["node"], z["phase"], z["head"]
            self.customer_id = z["customer_id"].astype(str)
            self.typ = z["typical_p"] + 1j * z["typical_q"]
            self.un, self.e_pu = float(z["un"]), float(z["e_pu"])
            self.prefix = json.loads(str(z["meta"]))["prefix"]
        self.n_heads = int(self.head.max()) + 1

    def scope_of(self, meter_id: str) -> np.ndarray | None:
        if meter_id == f"{self.prefix}-TR":
            return np.ones(len(self.node), bool)
        if meter_id.startswith(f"{self.prefix}-F"):
            try:
                k = int(meter_id[len(self.prefix) + 2 :]) - 1
            except ValueError:
                return None
            return self.head == k if 0 <= k < self.n_heads else None
        return None

    def nodes_of(self, scope: np.ndarray) -> np.ndarray:
        """Customer nodes whose VUF counts: those of the meter's scope (its feeder, or all)."""
        return np.unique(self.node[scope])

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:
        """Which meters have switchable phases (the asset register)."""
        await fetch_equipment(batch, state, self.name)

    def predict(self, batch: ModuleBatch) -> list[assessment_pb2.LoadBalancing]:
        p = batch.columns(P_COLS)
        equipment = equipment_of(batch, self.name)
        out = []
        for i, r in enumerate(batch.readings):
            scope = self.scope_of(r.meter_id)
            if scope is None or not scope.any():
                out.append(
                    self._degraded(
                        "no phase map for this meter: load balancing answers for the "
                        f"transformer and feeder-head meters of {self.prefix}"
                    )
                )
                continue
            if not np.isfinite(p[i]).all():
                out.append(self._degraded("phase active powers missing in the reading"))
                continue
            if equipment[i] is None:
                out.append(self._degraded(NO_REGISTER))
                continue
            hour = (r.timestamp.seconds % 86400) // 3600
            s = self.typ[:, hour].copy()
            # scale each phase's typical loads to the measured phase total (estimate, see docstring)
            for ph in range(3):
                on = scope & (self.phase == ph)
                total = s[on].real.sum()
                if on.any() and abs(total) > 1.0 and 0.0 <= p[i, ph] / total <= 10.0:
                    s[on] *= p[i, ph] / total
            s[~scope] = 0.0
            plan, before, _ = plan_moves(
                self.z1, self.node, self.phase, s, self.un, self.e_pu, scope=scope, nodes=self.nodes_of(scope)
            )
            why_not = self.no_action(before, bool(equipment[i].switchable_phases), bool(plan.moves))
            if why_not:
                out.append(
                    assessment_pb2.LoadBalancing(
                        info=self.info(assessment_pb2.NORMAL, f"no action: {why_not}; {ESTIMATE_NOTE}"),
                        vuf_before_pct=float(before),
                        expected_vuf_pct=float(before),
                    )
                )
                continue
            moves = [
                assessment_pb2.LoadMove(
                    load_id=str(self.customer_id[c]),
                    from_phase=PHASES[self.phase[c]],
                    to_phase=PHASES[q],
                    load_kw=float(s[c].real / 1e3),
                )
                for c, q in plan.moves
            ]
            limit = "above" if before > EN50160_VUF_LIMIT_PCT else "within"
            detail = f"VUF {before:.2f} % ({limit} the EN 50160 limit of 2 %); {ESTIMATE_NOTE}"
            out.append(
                assessment_pb2.LoadBalancing(
                    info=self.info(severity_of(before), detail),
                    moves=moves,
                    vuf_before_pct=float(before),
                    expected_vuf_pct=float(plan.vuf_after),
                    score=float(plan.score),
                )
            )
        return out

    def no_action(self, vuf_pct: float, switchable: bool, improves: bool) -> str:
        """Why no move is proposed ("" when moves are worth making)."""
        threshold = self.config.vuf_action_pct
        if vuf_pct < threshold:
            return f"VUF {vuf_pct:.2f} % is below the {threshold:g} % action threshold (EN 50160 limit 2 %)"
        if not switchable:
            return f"VUF {vuf_pct:.2f} %, but the asset register lists no switchable phases at this meter"
        if not improves:
            return f"VUF {vuf_pct:.2f} %: no move of a single-phase load lowers it"
        return ""

    def _degraded(self, detail: str) -> assessment_pb2.LoadBalancing:
        return assessment_pb2.LoadBalancing(info=self.info(detail=detail, status=assessment_pb2.DEGRADED))


def severity_of(vuf_pct: float) -> int:
    """Severity of a proposed re-phasing: WARNING once the unbalance exceeds EN 50160's 2 %
    (the limit itself is at risk), ADVISORY below it (a planned improvement)."""
    return assessment_pb2.WARNING if vuf_pct > EN50160_VUF_LIMIT_PCT else assessment_pb2.ADVISORY
