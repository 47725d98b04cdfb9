"""Data access, cross-validation folds and plots shared by the monitoring models' training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from gridtwin.features.frame import features_from_dataframe  # noqa: E402
from gridtwin.features.schema import FEATURE_NAMES  # noqa: E402
from training.context import TrainContext  # noqa: E402

_FEATURE_CACHE: dict[tuple[str, str], pd.DataFrame] = {}


def reading_features(
    ctx: TrainContext, feeder: str = "train", meters: Sequence[str] | None = None
) -> pd.DataFrame:
    """The serving features (``features_from_dataframe``) of a feeder's readings, with
    ``meter_id``/``timestamp``; cached per process (several monitoring models share it).

    ``meters`` restricts the computation to those meters (history is per meter, so the rows
    are identical to the full computation's); a cached full table is reused when present.
    """
    key = (str(ctx.feeder_dir(feeder)), feeder)
    if key in _FEATURE_CACHE:
        full = _FEATURE_CACHE[key]
        return full if meters is None else full[full["meter_id"].isin(set(meters))]
    if meters is None:
        _FEATURE_CACHE[key] = features_from_dataframe(ctx.table("readings", feeder))
        return _FEATURE_CACHE[key]
    sub_key = (*key, tuple(sorted(set(meters))))
    if sub_key not in _FEATURE_CACHE:
        readings = ctx.table("readings", feeder)
        _FEATURE_CACHE[sub_key] = features_from_dataframe(readings[readings["meter_id"].isin(set(meters))])
    return _FEATURE_CACHE[sub_key]


def join_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Inner join of feature rows and a label table on (meter_id, timestamp)."""
    lab = labels.copy()
    lab["timestamp"] = pd.to_datetime(lab["timestamp"], utc=True)
    feat = features.copy()
    feat["timestamp"] = pd.to_datetime(feat["timestamp"], utc=True)
    return feat.merge(lab, on=["meter_id", "timestamp"], how="inner")


def time_folds(times: np.ndarray, k: int = 5) -> list[tuple[np.ndarray, np.ndarray]]:
    """k contiguous time blocks (blocked CV: autocorrelated neighbours stay in one fold)."""
    t = (
        pd.to_datetime(pd.Series(times), utc=True)
        .dt.tz_localize(None)
        .to_numpy("datetime64[ns]")
        .astype(np.int64)
    )
    edges = np.quantile(t, np.linspace(0, 1, k + 1))
    block = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, k - 1)
    idx = np.arange(len(t))
    return [(idx[block != b], idx[block == b]) for b in range(k)]


def latency_rows(features: pd.DataFrame, n: int = 20, seed: int = 0) -> np.ndarray:
    """~n realistic feature rows (n × 135) in schema order, drawn with history available."""
    rng = np.random.default_rng(seed)
    pool = features[features["history_count"] >= 5] if "history_count" in features else features
    take = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
    return pool.iloc[take][list(FEATURE_NAMES)].to_numpy(dtype=float)


def save_confusion(
    path: Path, y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], title: str
) -> None:
    """Row-normalised confusion matrix with counts, as PNG."""
    lab = list(labels)
    pos = {c: i for i, c in enumerate(lab)}
    m = np.zeros((len(lab), len(lab)), int)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in pos and p in pos:
            m[pos[t], pos[p]] += 1
    frac = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(lab) + 2.5, 1.0 * len(lab) + 2))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(lab)):
        for j in range(len(lab)):
            ax.text(
                j,
                i,
                f"{m[i, j]}\n{frac[i, j]:.0%}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(lab)), lab, rotation=30, ha="right")
    ax.set_yticks(range(len(lab)), lab)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_barh(path: Path, names: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> None:
    """Horizontal bar chart (e.g. feature importance), largest on top."""
    order = np.argsort(values)
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(names) + 1.2))
    ax.barh([names[i] for i in order], [values[i] for i in order], color="tab:blue")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A small Markdown table; floats to 4 significant digits."""

    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


__all__ = [
    "plt",
    "reading_features",
    "join_labels",
    "time_folds",
    "latency_rows",
    "save_confusion",
    "save_barh",
    "md_table",
]
