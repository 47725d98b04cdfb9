"""Serving-side feeder data (numpy only): catalogue, banks and tables of optimal settings per feeder,
and the mapping of a batch of readings onto feeder head-end states."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gridtwin.core.numeric import nan_to_num
from gridtwin.netopt.catalogue import KIND_CUSTOMER, Catalogue, Scope
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.policy import PolicyTable

_P = ("active_power_a_w", "active_power_b_w", "active_power_c_w")
_Q = ("reactive_power_a_var", "reactive_power_b_var", "reactive_power_c_var")


class FeederLite:
    """What serving needs of a NetworkModel (catalogue, allocation, banks)."""

    def __init__(self, z: np.lib.npyio.NpzFile, f: int) -> None:
        g = lambda k: z[f"f{f}_{k}"]  # noqa: E731
        self.name = str(g("name"))
        self.meter_ids, self.meter_kind, self.meter_head = g("meter_ids"), g("meter_kind"), g("meter_head")
        self.weights, self.node_head = g("weights"), g("node_head")
        self.bank_names, self.bank_q_step, self.bank_steps = (
            g("bank_names"),
            g("bank_q_step"),
            g("bank_steps"),
        )
        self.un = float(g("un"))
        self.table = PolicyTable.from_npz(z, f"f{f}_t_") if f"f{f}_t_tap" in z.files else None


def save_feeders(
    path: Path, models: list[NetworkModel], tables: list[PolicyTable | None] | None = None
) -> None:
    out: dict[str, np.ndarray] = {"n_feeders": np.array(len(models))}
    for f, m in enumerate(models):
        for k in (
            "meter_ids",
            "meter_kind",
            "meter_head",
            "weights",
            "node_head",
            "bank_names",
            "bank_q_step",
            "bank_steps",
        ):
            out[f"f{f}_{k}"] = np.asarray(getattr(m, k))
        out[f"f{f}_name"] = np.array(m.name)
        out[f"f{f}_un"] = np.array(m.un)
        if tables is not None and tables[f] is not None:
            tables[f].save(path, f"f{f}_t_", out)
    np.savez(path, **out)


def load_feeders(path: Path) -> list[FeederLite]:
    with np.load(path, allow_pickle=False) as z:
        return [FeederLite(z, f) for f in range(int(z["n_feeders"]))]


@dataclass
class HeadEnd:
    scope: Scope
    p_phase: np.ndarray  # (B, 3) W, scaled to the whole feeder (NaN for customer meters)
    q_phase: np.ndarray  # (B, 3) var
    v_pu: np.ndarray  # (B,) busbar voltage (mean of phases)
    scale: np.ndarray  # (B, 3) factor applied (1 transformer/unknown)

    @property
    def usable(self) -> np.ndarray:
        return (self.scope.kind != KIND_CUSTOMER) & np.isfinite(self.p_phase).all(axis=1)


def head_end(catalogue: Catalogue, batch) -> HeadEnd:  # batch: gridtwin.serving.model.ModuleBatch
    """The feeder head-end state each reading stands for (see gridtwin.netopt.state)."""
    scope = catalogue.scope(batch.meter_ids)
    scale = catalogue.feeder_scale(scope)
    p = nan_to_num(batch.columns(_P)) * scale
    q = nan_to_num(batch.columns(_Q)) * scale
    v = nan_to_num(batch.column("voltage_mean_pu"))
    return HeadEnd(scope, p, q, v, scale)
