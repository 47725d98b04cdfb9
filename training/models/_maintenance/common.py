"""Data access, imputation and plotting shared by the maintenance models' training code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gridtwin.features.schema import FEATURE_NAMES  # noqa: E402
from training.context import TrainContext  # noqa: E402
from training.models._monitoring.common import reading_features as cached_features  # noqa: E402


def reading_features(
    ctx: TrainContext, feeder: str = "train", meters: list[str] | None = None
) -> pd.DataFrame:
    """Serving features (135 columns + meter_id, timestamp) of the simulator's 1-min readings.

    Through the monitoring models' per-process cache (the same ``features_from_dataframe``
    rows, in the same (meter, timestamp) order; history is per meter, so a meter subset of the
    cached feeder table equals its own computation): a full-profile run computed the training
    feeder's features (~30 s) again for overload_risk, power_quality_index and voltage_sag
    after voltage_anomaly had."""
    return cached_features(ctx, feeder, meters).reset_index(drop=True)


def full_rows(frame: pd.DataFrame) -> np.ndarray:
    """The (n, 135) serving matrix of a features frame."""
    return frame[list(FEATURE_NAMES)].to_numpy(dtype=float)


def medians(x: np.ndarray) -> np.ndarray:
    """Column medians of the finite values (0 where a column has none): the imputation fill."""
    x = np.where(np.isfinite(x), x, np.nan)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m = np.nanmedian(x, axis=0)
    return np.where(np.isfinite(m), m, 0.0)


def save_plot(ctx: TrainContext, fig: plt.Figure, suffix: str) -> str:
    """Save `fig` as `<model>_<suffix>.png` in the report folder; returns the filename."""
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    name = f"{ctx.name}_{suffix}.png"
    fig.tight_layout()
    fig.savefig(ctx.report_dir / name, dpi=90)
    plt.close(fig)
    return name


def confusion_plot(ctx: TrainContext, cm: np.ndarray, labels: list[str], title: str, suffix: str) -> str:
    fig, ax = plt.subplots(figsize=(4.8, 4.0))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return save_plot(ctx, fig, suffix)


def write_json(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj, indent=1, default=float))
    return path


def latency_sample(x: np.ndarray, ctx: TrainContext, n: int = 20) -> np.ndarray:
    """~n realistic feature rows (n × 135) for the pipeline's latency measurement."""
    idx = ctx.rng.choice(len(x), size=min(n, len(x)), replace=False)
    return np.asarray(x[idx], dtype=float)
