"""Train 1.1 voltage anomaly: an isolation forest on 15 voltage descriptors.

Unsupervised fit on the training block's readings (labels unused). The simulator's labels
(``voltage_anomaly.parquet``: steps, oscillation, under/overvoltage, interruptions, sensor
faults — each set from the event the simulator injected, not from reading thresholds) choose
the score threshold and forest size on the validation block and measure precision, recall and
F1 on the test block beside the fixed EN 50160 rule (flag a reading outside U_n ± 10 %).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import precision_recall_curve, precision_recall_fscore_support, roc_auc_score, roc_curve

from gridtwin.models._monitoring.voltage_features import DESCRIPTOR_NAMES, INPUT_COLUMNS, voltage_descriptors
from training.context import Metric, TrainContext, TrainResult
from training.models._monitoring.common import (
    join_labels,
    latency_rows,
    md_table,
    plt,
    reading_features,
    save_barh,
)
from training.models._monitoring.pack import pack_isolation_forest
from training.split import split_by_time

NAME = "voltage_anomaly"
#: Descriptor subsets competing on the selection block (indices into DESCRIPTOR_NAMES).
SUBSETS: dict[str, list[int]] = {
    "all 15 (seed)": list(range(15)),
    "without absolute levels": [3, 6, 7, 8, 9, 10, 11, 12, 13, 14],
    "dynamics only": [9, 10, 11, 12, 13, 14],
}
MIN_EVENTS = 20  # labelled anomalous readings needed to choose a threshold or to test


def _scores(forest: IsolationForest, x: np.ndarray) -> np.ndarray:
    return -forest.score_samples(x)  # s = 2^(−E[h]/c) ∈ (0, 1], larger = more anomalous


def _runs(meters: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """Run id of each row (rows sorted by meter, then time): a new run starts where the meter or
    the label changes."""
    new = np.r_[True, (meters[1:] != meters[:-1]) | (kinds[1:] != kinds[:-1])]
    return np.cumsum(new)


def _event_recall(run_id: np.ndarray, flagged: np.ndarray) -> float:
    """Fraction of runs with at least one flagged row."""
    if len(run_id) == 0:
        return float("nan")
    runs, inv = np.unique(run_id, return_inverse=True)
    hit = np.zeros(len(runs), bool)
    np.logical_or.at(hit, inv, flagged)
    return float(hit.mean())


def _union(s: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Scores of the union detector: a reading outside EN 50160's U_n ± 10 % scores 1 (the
    maximum), so every threshold flags it; inside the band the forest's score decides."""
    return np.where(outside, 1.0, s)


def _best_threshold(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    p, r, t = precision_recall_curve(y, s)
    f1 = 2 * p * r / np.maximum(p + r, 1e-12)
    k = int(np.argmax(f1[:-1]))
    return float(t[k]), float(f1[k])


def _prf(y: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    return float(p), float(r), float(f)


def train(ctx: TrainContext) -> TrainResult:
    data = join_labels(reading_features(ctx, "train"), ctx.table("voltage_anomaly", "train"))
    x = voltage_descriptors(data[list(INPUT_COLUMNS)].to_numpy(float))
    y = data["anomaly"].to_numpy(bool)
    kind = data["anomaly_type"].to_numpy().astype(str)
    split = split_by_time(data["timestamp"], data["meter_id"], embargo=pd.Timedelta("10min"), seed=ctx.seed)
    rng = ctx.rng
    train_idx = np.flatnonzero(split.train)
    cap = 40_000 if ctx.quick else 150_000
    if len(train_idx) > cap:
        train_idx = np.sort(rng.choice(train_idx, cap, replace=False))

    # Selection and test rows. A short dataset (quick profile) can leave the late blocks without
    # any labelled event; then the threshold is chosen on the training block's labels (the fit
    # itself never sees labels) and the test is the other feeder. Recorded in the report.
    sel = split.val if y[split.val].sum() >= MIN_EVENTS else split.train
    sel_name = "validation block" if sel is split.val else "training block (validation has no events)"
    gen = join_labels(reading_features(ctx, "test"), ctx.table("voltage_anomaly", "test"))
    x_gen = voltage_descriptors(gen[list(INPUT_COLUMNS)].to_numpy(float))
    own_test = y[split.test].sum() >= MIN_EVENTS
    test_name = "later time block, held-out meters" if own_test else "other feeder (test block has no events)"

    # Forest size and descriptor subset by selection F1 (threshold at the selection F1 optimum
    # each time). The seed's choice (all 15) competes with subsets; the winner is measured.
    candidates = [256, 1024] if ctx.quick else [256, 1024, 4096]
    band = data["en50160_voltage_within_10pct"].to_numpy() < 0.5  # outside U_n ± 10 %
    tried = []
    for subset_name, cols in SUBSETS.items():
        for max_samples in candidates:
            f = IsolationForest(
                n_estimators=100, max_samples=max_samples, random_state=ctx.seed, n_jobs=ctx.n_jobs
            )
            f.fit(x[train_idx][:, cols])
            s_sel = _scores(f, x[sel][:, cols])
            for with_band in (False, True):
                thr, f1 = _best_threshold(y[sel], _union(s_sel, band[sel]) if with_band else s_sel)
                tried.append(
                    {
                        "subset": subset_name,
                        "max_samples": max_samples,
                        "with_en50160": with_band,
                        "val_f1": f1,
                        "threshold": thr,
                        "forest": f,
                    }
                )
    # Ties go to the union with the EN 50160 band: it never removes a detection, and a reading
    # outside U_n ± 10 % is abnormal by the standard (a validation block without out-of-band
    # events cannot tell the two apart).
    best = max(tried, key=lambda t: (round(t["val_f1"], 9), t["with_en50160"]))
    forest, threshold, cols = best["forest"], best["threshold"], SUBSETS[best["subset"]]
    with_band = best["with_en50160"]

    def detector_scores(xd: np.ndarray, outside: np.ndarray) -> np.ndarray:
        sc = _scores(forest, xd[:, cols])
        return _union(sc, outside) if with_band else sc

    # Held-out test block, and the other feeder.
    g_y = gen["anomaly"].to_numpy(bool)
    g_pred = detector_scores(x_gen, gen["en50160_voltage_within_10pct"].to_numpy() < 0.5) >= threshold
    if own_test:
        te = split.test
        x_te, y_te, kind_te = x[te], y[te], kind[te]
        meter_te = data.loc[te, "meter_id"].to_numpy()
        base_pred = data.loc[te, "en50160_voltage_within_10pct"].to_numpy() < 0.5
    else:
        x_te, y_te, kind_te = x_gen, g_y, gen["anomaly_type"].to_numpy().astype(str)
        meter_te = gen["meter_id"].to_numpy()
        base_pred = gen["en50160_voltage_within_10pct"].to_numpy() < 0.5
    s_te = detector_scores(x_te, base_pred)
    pred = s_te >= threshold
    p, r, f1 = _prf(y_te, pred)
    bp, br, bf1 = _prf(y_te, base_pred)
    auc = float(roc_auc_score(y_te, s_te)) if 0 < y_te.sum() < len(y_te) else float("nan")
    per_type = []
    run_id = _runs(meter_te, kind_te)
    for t in sorted(set(kind_te)):
        m = kind_te == t
        ev_if, ev_base = _event_recall(run_id[m], pred[m]), _event_recall(run_id[m], base_pred[m])
        per_type.append(
            [
                t,
                int(m.sum()),
                float(pred[m].mean()),
                float(base_pred[m].mean()),
                int(len(np.unique(run_id[m]))),
                ev_if if t != "normal" else "",
                ev_base if t != "normal" else "",
            ]
        )
    anomalous = kind_te != "normal"
    event_recall = _event_recall(run_id[anomalous], pred[anomalous]) if anomalous.any() else float("nan")
    event_recall_base = (
        _event_recall(run_id[anomalous], base_pred[anomalous]) if anomalous.any() else float("nan")
    )
    gp, gr, gf1 = _prf(g_y, g_pred)
    gbp, gbr, gbf1 = _prf(g_y, gen["en50160_voltage_within_10pct"].to_numpy() < 0.5)

    # Artifact: packed forest, threshold, robust scaling for the attributions.
    packed, c_norm = pack_isolation_forest(forest)
    fit_x = x[train_idx]
    median = np.median(fit_x, axis=0)
    mad = np.median(np.abs(fit_x - median), axis=0) * 1.4826
    scale = np.maximum(mad, np.maximum(np.abs(median) * 1e-3, 1e-6))
    model_path = ctx.path("voltage_anomaly_iforest.npz")
    np.savez(
        model_path,
        **packed.to_arrays(),
        c_norm=np.array([c_norm]),
        score_threshold=np.array([threshold]),
        median=median,
        scale=scale,
        columns=np.asarray(cols),
        with_en50160=np.array([with_band]),
    )

    # Plots: ROC and PR with the operating point, per-type recall, mean |robust z| of flagged rows.
    rd = ctx.report_dir
    rd.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    if np.isfinite(auc):
        fpr, tpr, _ = roc_curve(y_te, s_te)
        axes[0].plot(fpr, tpr, label=f"IF (AUC {auc:.3f})")
        bfpr = float(base_pred[~y_te].mean()) if (~y_te).any() else 0.0
        axes[0].scatter([bfpr], [br], color="red", label="EN 50160 ±10 %", zorder=3)
        pr_p, pr_r, _ = precision_recall_curve(y_te, s_te)
        axes[1].plot(pr_r, pr_p, label="IF")
        axes[1].scatter([r], [p], color="black", label="operating point", zorder=3)
        axes[1].scatter([br], [bp], color="red", label="EN 50160 ±10 %", zorder=3)
    axes[0].set_xlabel("false-positive rate")
    axes[0].set_ylabel("recall")
    axes[0].set_title("ROC (held-out test)")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("recall")
    axes[1].set_ylabel("precision")
    axes[1].set_title("Precision-recall (held-out test)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(rd / f"{NAME}_roc_pr.png", dpi=90)
    plt.close(fig)
    z = np.abs((x_te[pred] - median) / scale) if pred.any() else np.zeros((1, len(DESCRIPTOR_NAMES)))
    save_barh(
        rd / f"{NAME}_attribution.png",
        list(DESCRIPTOR_NAMES),
        z.mean(axis=0).tolist(),
        "Mean |robust z| of flagged test readings",
        "robust standard units",
    )

    detector = "isolation forest ∪ EN 50160 ±10 % band" if with_band else "isolation forest alone"
    type_table = md_table(
        [
            "label",
            "test readings",
            "flagged",
            "EN 50160 flagged",
            "events",
            "events detected",
            "EN 50160 events",
        ],
        per_type,
    )
    report = f"""
Isolation forest (100 trees, ψ = {best["max_samples"]}) on the descriptor subset "{best["subset"]}"
({", ".join(DESCRIPTOR_NAMES[c] for c in cols)}) of the 15 voltage descriptors
({", ".join(DESCRIPTOR_NAMES)}; signed-log scaled), fitted unlabelled on {len(train_idx)} training-block readings. The score
threshold (s ≥ {threshold:.4f}), ψ and the subset were chosen by F1 on the validation block; labels were not used otherwise.

## Held-out test ({test_name}); threshold chosen on the {sel_name}

| metric | isolation forest | EN 50160 ±10 % rule | goal |
|---|---|---|---|
| precision | {p:.4f} | {bp:.4f} | |
| recall | {r:.4f} | {br:.4f} | |
| F1 | {f1:.4f} | {bf1:.4f} | ≥ 0.90 and above the rule |
| ROC AUC | {auc:.4f} | | |
| other feeder F1 (P / R) | {gf1:.4f} ({gp:.3f} / {gr:.3f}) | {gbf1:.4f} ({gbp:.3f} / {gbr:.3f}) | |

Recall by label type: fraction of test readings flagged, and of events (a meter's contiguous run of one
label) with at least one flagged reading. Event recall, all anomaly types: {event_recall:.4f} (EN 50160 rule
{event_recall_base:.4f}).

{type_table}

![roc pr]({NAME}_roc_pr.png)
![attribution]({NAME}_attribution.png)

Detector: **{detector}**.

Subset, ψ and EN 50160 union tried (selection-block F1): {[{k: v for k, v in t.items() if k != "forest"} for t in tried]}
"""
    notes = (
        f"Test F1 {f1:.3f} (P {p:.3f}, R {r:.3f}) vs EN 50160 ±10 % rule F1 {bf1:.3f}; goal F1 ≥ 0.90 and above the "
        f"rule: {'met' if f1 >= 0.9 and f1 > bf1 else 'MISSED'}. Labels are per reading and cover whole events: "
        "a sensor drift is labelled from its first minute although its gain error grows linearly from 0 to 2–8 % "
        "over 6–48 h, and a tap step is labelled for 5 minutes at every meter; the early part of a drift is "
        "indistinguishable from normal readings, which bounds the reachable recall. The per-type table shows where "
        f"the misses are. Chosen on the {sel_name} (F1) among descriptor subsets × ψ × with/without the EN 50160 "
        f"band: subset '{best['subset']}', ψ {best['max_samples']}, detector = {detector} (the seed's all-15 "
        f"forest was measured beside it, see the table). Test = {test_name}."
    )
    return TrainResult(
        algorithm="IsolationForest (numpy-served)",
        artifacts={"model": model_path},
        features=list(INPUT_COLUMNS),
        metrics=[
            Metric("f1", f1, bf1, "EN 50160 ±10 % rule", ">= 0.90"),
            Metric("precision", p, bp, "EN 50160 ±10 % rule"),
            Metric("recall", r, br, "EN 50160 ±10 % rule"),
            Metric("roc_auc", auc, 0.5, "chance"),
            Metric("event_recall", event_recall, event_recall_base, "EN 50160 ±10 % rule"),
            Metric("other_feeder_f1", gf1, gbf1, "EN 50160 ±10 % rule"),
        ],
        hyperparameters={
            "n_estimators": 100,
            "max_samples": best["max_samples"],
            "threshold_s": threshold,
            "descriptors": list(DESCRIPTOR_NAMES),
            "subset": best["subset"],
            "forest_inputs": [DESCRIPTOR_NAMES[c] for c in cols],
            "with_en50160_band": with_band,
        },
        training_data={
            "table": "readings + voltage_anomaly",
            "rows": int(len(data)),
            "fit_rows": int(len(train_idx)),
            "anomaly_rate": float(y.mean()),
        },
        split={**split.describe(), "embargo": "10min", "selection": sel_name, "test": test_name},
        cross_validation={
            "method": "validation block: psi and threshold by F1",
            "tried": [{k: v for k, v in t.items() if k != "forest"} for t in tried],
        },
        report_md=report,
        notes=notes,
        latency_rows=latency_rows(data),
    )
