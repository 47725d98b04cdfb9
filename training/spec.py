"""Uniform training stages (issue 8 item 4), in the manner of scikit-learn's estimators and
OpenSTEF's pipelines: every model in ``training/models`` declares the same seven steps and
``training.pipeline`` runs them, so a reader finds each model's data, split, fit, evaluation,
export and report in the same place, and the shared parts (the time/meter split, blocked-time
cross-validation, the report page and the registry write) live once.

The stages run in the order of :data:`STAGES`. ``export`` comes before ``evaluate`` so that a
model can be evaluated through the artifact that will be served (the ONNX graph), as most are.
Each stage reads what earlier stages left on the spec instance (the state of one training run,
created per run by the pipeline) and leaves its own outputs there; ``report`` returns the
:class:`~training.context.TrainResult` that the pipeline times, registers and writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from training.context import TrainContext, TrainResult
from training.split import Split, split_by_time

#: The stage methods, in the order the pipeline calls them.
STAGES = ("data", "features", "split", "fit", "export", "evaluate", "report")


class TrainingSpec:
    """A model's training, declared as stages (see the module docstring).

    Subclasses set ``name`` and implement ``data``, ``fit``, ``export``, ``evaluate`` and
    ``report``; ``features`` defaults to nothing (most models read serving features from the
    data stage) and ``split`` to the shared 70/15/15 time split of ``self.frame`` (by meter when
    ``split_by_meter``) with ``embargo``.
    """

    name: ClassVar[str] = ""
    #: The shared split's parameters (used by the default ``split`` stage).
    embargo: ClassVar[pd.Timedelta | float] = 0
    split_by_meter: ClassVar[bool] = True
    time_column: ClassVar[str] = "timestamp"
    meter_column: ClassVar[str] = "meter_id"

    def __init__(self, ctx: TrainContext) -> None:
        self.ctx = ctx
        self.frame: pd.DataFrame | None = None
        self.parts: Split | None = None

    def resources(self) -> contextlib.AbstractContextManager:
        """A context the whole run happens in (e.g. a BLAS thread limit); none by default."""
        return contextlib.nullcontext()

    def data(self) -> None:
        """Load the model's tables into ``self`` (``self.frame`` for the default split)."""
        raise NotImplementedError

    def features(self) -> None:
        """Derive the model's inputs from the data (default: the data already holds them)."""

    def split(self) -> None:
        """The shared split of ``self.frame`` into ``self.parts``."""
        assert self.frame is not None, f"{self.name}: the data stage left no frame to split"
        self.parts = split_by_time(
            self.frame[self.time_column],
            self.frame[self.meter_column] if self.split_by_meter else None,
            embargo=self.embargo,
            seed=self.ctx.seed,
        )

    def fit(self) -> None:
        """Select hyper-parameters (validation or cross-validation) and fit the final model."""
        raise NotImplementedError

    def export(self) -> None:
        """Write the artifacts that serving loads (``self.artifacts``)."""
        raise NotImplementedError

    def evaluate(self) -> None:
        """Held-out figures beside their naive baselines (``self.metrics``)."""
        raise NotImplementedError

    def report(self) -> TrainResult:
        """Plots, the report body, notes and the registry's manifest fields."""
        raise NotImplementedError


def run_stages(spec: TrainingSpec, timings: dict[str, float] | None = None) -> TrainResult:
    """Run a spec's stages in order; ``timings`` receives the seconds each one took."""
    import time

    result: Any = None
    with spec.resources():
        for stage in STAGES:
            started = time.perf_counter()
            result = getattr(spec, stage)()
            if timings is not None:
                timings[stage] = round(time.perf_counter() - started, 3)
    if not isinstance(result, TrainResult):
        raise TypeError(f"{spec.name}: the report stage returned {type(result).__name__}, not TrainResult")
    return result


def grid_search(
    grid: Sequence[dict[str, Any]],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    evaluate_fold: Callable[[dict[str, Any], np.ndarray, np.ndarray], dict[str, float]],
) -> list[dict[str, Any]]:
    """Cross-validation shared by the models: every parameter set on every fold.

    ``evaluate_fold(params, train_idx, val_idx)`` returns named scores of one fold; the result
    holds per parameter set its parameters, each score's mean over the folds, and ``std`` (of
    the first score), in grid order.
    """
    rows = []
    for params in grid:
        scores: dict[str, list[float]] = {}
        for tr, va in folds:
            for key, value in evaluate_fold(params, tr, va).items():
                scores.setdefault(key, []).append(value)
        first = next(iter(scores))
        rows.append(
            {
                **params,
                **{k: float(np.mean(v)) for k, v in scores.items()},
                "std": float(np.std(scores[first])),
            }
        )
    return rows
