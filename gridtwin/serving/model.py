"""The uniform interface of a served model and the batch it answers for.

A served model is built from its registry entry, warmed once, and then answers a whole
batch at a time (vectorised): `predict(batch)` returns one output message per item, of the
Assessment field's type, with `info` filled in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
from google.protobuf.message import Message

from gridtwin.core.config import Settings
from gridtwin.registry import RegistryEntry
from gridtwin.serving.state import MeterState
from gridtwin.v1 import assessment_pb2, reading_pb2


@dataclass(frozen=True)
class ModelConfig:
    """The operator's settings a served model uses, handed to it at construction (a model never
    reads settings or the environment itself). Defaults are the `Settings` defaults."""

    tariff_per_kwh: float = Settings.tariff_per_kwh  # EUR/kWh of losses (power_flow_optimization)
    target_pf: float = Settings.target_pf  # reactive_power's target power factor
    dispatch_lp_budget_ms: float = Settings.dispatch_lp_budget_ms  # optimal_dispatch LP budget
    # Materiality (docs/decisions.md): below these a decision model answers "no action".
    min_savings_eur_per_h: float = Settings.min_savings_eur_per_h  # dispatch, power flow
    vuf_action_pct: float = Settings.vuf_action_pct  # load_balancing (EN 50160 limit: 2 %)
    pf_band: float = Settings.pf_band  # reactive_power: PF within target - band is in band
    min_dr_potential_kw: float = Settings.min_dr_potential_kw  # demand_response programme

    def __post_init__(self) -> None:
        # A bad value fails when the module starts, naming its variable, not at the first answer.
        if not 0.5 <= self.target_pf <= 1.0:
            raise ValueError(f"GRIDTWIN_TARGET_PF={self.target_pf}: a power factor in 0.5..1")
        if self.tariff_per_kwh < 0:
            raise ValueError(f"GRIDTWIN_TARIFF_PER_KWH={self.tariff_per_kwh}: must be >= 0")
        for value, variable in (
            (self.dispatch_lp_budget_ms, "DISPATCH_LP_BUDGET_MS"),
            (self.min_savings_eur_per_h, "GRIDTWIN_MIN_SAVINGS_EUR_PER_H"),
            (self.vuf_action_pct, "GRIDTWIN_VUF_ACTION_PCT"),
            (self.pf_band, "GRIDTWIN_PF_BAND"),
            (self.min_dr_potential_kw, "GRIDTWIN_MIN_DR_POTENTIAL_KW"),
        ):
            if not value >= 0:
                raise ValueError(f"{variable}={value}: must be >= 0")

    @classmethod
    def from_settings(cls, cfg: Settings) -> ModelConfig:
        return cls(**{f.name: getattr(cfg, f.name) for f in fields(cls)})


@dataclass
class ModuleBatch:
    """The items of one module request: readings, their feature rows and upstream outputs."""

    readings: Sequence[reading_pb2.Reading]
    features: np.ndarray  # (n, n_features), float64, columns named by `feature_names`
    feature_names: Sequence[str]
    schema_version: str
    upstream: Sequence[assessment_pb2.Assessment] = field(default_factory=list)
    # Per-model scratch space filled by ServedModel.prepare (keyed by model name).
    context: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.readings)

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.feature_names)}

    def column(self, name: str) -> np.ndarray:
        return self.features[:, self._index[name]]

    def columns(self, names: Sequence[str]) -> np.ndarray:
        return self.features[:, [self._index[n] for n in names]]

    @property
    def meter_ids(self) -> list[str]:
        return [r.meter_id for r in self.readings]


def output_class(name: str) -> type[Message]:
    """The message class of the Assessment field `name` (e.g. VoltageAnomaly)."""
    descriptor = assessment_pb2.Assessment.DESCRIPTOR.fields_by_name[name].message_type
    return getattr(assessment_pb2, descriptor.name)


class ServedModel(ABC):
    """Base class of the sixteen served models."""

    name: str = ""  # the Assessment field this model fills

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        self.entry = entry
        self.config = ModelConfig() if config is None else config
        self.version = entry.version
        self.algorithm = entry.algorithm
        self.feature_list: list[str] = list(entry.manifest.get("features", []))
        self.schema_version: str = str(entry.manifest.get("schema_version", ""))

    def info(
        self, severity: int = assessment_pb2.NORMAL, detail: str = "", status: int = assessment_pb2.OK
    ) -> assessment_pb2.ModelInfo:
        """The header of this model's answer; DEGRADED when the answer is partial (say why)."""
        return assessment_pb2.ModelInfo(
            status=status,
            model_name=self.name,
            model_version=self.version,
            severity=severity,
            detail=detail,
        )

    def degraded(
        self, detail: str, severity: int = assessment_pb2.SEVERITY_UNSPECIFIED
    ) -> assessment_pb2.ModelInfo:
        """A partial answer: say what is missing in `detail` (never an empty reason)."""
        if not detail:
            raise ValueError(f"{self.name}: a DEGRADED answer must say why")
        return self.info(severity, detail, status=assessment_pb2.DEGRADED)

    def unavailable(self, detail: str) -> assessment_pb2.ModelInfo:
        """No answer for this item (the model does not apply, or its inputs are absent): why."""
        if not detail:
            raise ValueError(f"{self.name}: an UNAVAILABLE answer must say why")
        return self.info(assessment_pb2.SEVERITY_UNSPECIFIED, detail, status=assessment_pb2.UNAVAILABLE)

    async def prepare(self, batch: ModuleBatch, state: MeterState) -> None:  # noqa: B027 - optional hook
        """Fetch per-meter state the model needs (e.g. cached forecasts, the asset register)
        before `predict`.

        Called on the module's event loop with this model's own state store (its key
        namespace, hash-tagged by meter, cluster-safe); most models need nothing and keep this
        no-op. Store what you fetch on `batch.context[self.name]`.
        """
        return None

    @abstractmethod
    def predict(self, batch: ModuleBatch) -> list[Any]:
        """One output message per item of `batch`, in order."""

    def warm(self, batch: ModuleBatch) -> None:
        """Run once before the service reports SERVING (JIT, caches, first-call costs)."""
        self.predict(batch)
