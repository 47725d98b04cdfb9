"""Training-time helpers shared by the decision models: plots and Markdown tables.

Used by `training/models/{demand_response,load_balancing,grid_stability,optimal_dispatch}.py`
only (never by serving code): matplotlib is imported lazily with the Agg backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats with 4 significant digits."""

    def fmt(v: object) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def save_confusion(
    path: Path, y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], title: str
) -> None:
    """Confusion matrix (rows = truth, columns = prediction) with counts."""
    plt = _plt()
    idx = {lab: i for i, lab in enumerate(labels)}
    m = np.zeros((len(labels), len(labels)), int)
    for t, p in zip(y_true, y_pred, strict=True):
        if t in idx and p in idx:
            m[idx[t], idx[p]] += 1
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center", color="black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_scatter(
    path: Path,
    x: np.ndarray,
    y: np.ndarray,
    groups: Sequence[str],
    xlabel: str,
    ylabel: str,
    title: str,
    markers: Sequence[str] | None = None,
) -> None:
    """Scatter coloured by group (e.g. true customer type), optional marker per point."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    groups = np.asarray(groups)
    for g in sorted(set(groups.tolist())):
        sel = groups == g
        ax.scatter(x[sel], y[sel], label=str(g), s=28, alpha=0.8)
    if markers is not None:
        for xi, yi, mk in zip(x, y, markers, strict=True):
            ax.annotate(mk[:2], (xi, yi), fontsize=6, alpha=0.6)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_barh(path: Path, names: Sequence[str], values: Sequence[float], title: str, xlabel: str) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(names) + 1.2))
    ax.barh(range(len(names)), values)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_hist(path: Path, series: dict[str, np.ndarray], title: str, xlabel: str, bins: int = 30) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.hist(values, bins=bins, alpha=0.55, label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def save_xy(
    path: Path,
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
) -> None:
    """Line plot of named curves (ROC, PR, reliability …)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, (x, y) in curves.items():
        ax.plot(x, y, marker="." if len(x) < 30 else None, label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
