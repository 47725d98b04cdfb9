"""Small pure helpers the scorers share (no mesh, no I/O)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from gridtwin.v1 import assessment_pb2

PHASES = ("a", "b", "c")


def voltage_pu(readings: pd.DataFrame) -> np.ndarray:
    """(n, 3) measured phase voltages in pu of each reading's own nominal."""
    v = readings[[f"voltage_{p}" for p in PHASES]].to_numpy(float)
    return v / readings["nominal_voltage"].to_numpy(float)[:, None]


def ok_share(answers: pd.DataFrame, model: str) -> float:
    """Share of readings the model answered with status OK."""
    col = f"{model}.info.status"
    return float((answers[col].to_numpy() == assessment_pb2.OK).mean()) if len(answers) else float("nan")


def answered(answers: pd.DataFrame, model: str) -> np.ndarray:
    """Readings the model answered with numbers (OK or DEGRADED, not UNAVAILABLE/FAILED)."""
    s = answers[f"{model}.info.status"].to_numpy()
    return (s == assessment_pb2.OK) | (s == assessment_pb2.DEGRADED)


def f1(y: np.ndarray, pred: np.ndarray) -> float:
    """F1 of the positive class (0 when there is nothing to find and nothing flagged)."""
    tp = float((y & pred).sum())
    return 2 * tp / max(float(y.sum() + pred.sum()), 1.0)


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by ranks (ties share a rank); NaN without both classes."""
    y = np.asarray(y, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def mape_pct(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute percentage error (%) over points with a non-zero truth."""
    m = np.isfinite(pred) & np.isfinite(truth) & (np.abs(truth) > 0)
    return float(np.mean(np.abs(pred[m] - truth[m]) / np.abs(truth[m])) * 100) if m.any() else float("nan")


def future_index(ts_s: np.ndarray, meter: np.ndarray, ahead_s: float, tol_s: float) -> np.ndarray:
    """Index of the same meter's reading at ts + ahead (within ±tol), −1 where there is none."""
    out = np.full(len(ts_s), -1)
    for m in np.unique(meter):
        idx = np.flatnonzero(meter == m)
        t = ts_s[idx]
        order = np.argsort(t, kind="stable")
        idx, t = idx[order], t[order]
        j = np.clip(np.searchsorted(t, t + ahead_s), 0, len(t) - 1)
        j0 = np.clip(j - 1, 0, len(t) - 1)
        near = np.where(np.abs(t[j0] - t - ahead_s) < np.abs(t[j] - t - ahead_s), j0, j)
        hit = np.abs(t[near] - t - ahead_s) <= tol_s
        out[idx[hit]] = idx[near[hit]]
    return out
