"""Train 1.3 frequency stability: an LSTM (64 → 32) predicting the frequency 5 s ahead.

Data: the simulator's 1-s system frequency (``frequency.parquet``: swing equation, droop, AGC,
load noise, generator trips). Sequences are built exactly as served: lag vectors
``frequency_lag_0..9`` / ``dt_lag_0..9`` at a reading cadence (1 s mostly; 2, 5, 10 and 60 s
so the network sees the Δt inputs vary) with meter noise σ = 1 mHz on the inputs (the
simulator's meter model), then :func:`build_sequences`. Label: the true frequency 5 s after
the newest reading (physics output, never a threshold of the inputs). Baseline: persistence.
"""

from __future__ import annotations

import time

import numpy as np

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._monitoring.frequency_sequence import HORIZON_S, N_STEPS, SCALE_HZ, build_sequences
from gridtwin.models._monitoring.lstm import NumpyLSTM
from training.context import Metric, TrainContext, TrainResult
from training.models._monitoring.common import md_table, plt
from training.split import split_by_time

NAME = "frequency_stability"
METER_NOISE_HZ = 0.001
CADENCES_S = np.array([1, 2, 5, 10, 60])
CADENCE_P = np.array([0.6, 0.1, 0.1, 0.1, 0.1])


def lag_samples(
    f_true: np.ndarray, ends: np.ndarray, cadence: np.ndarray, history: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lag matrices (n, 10) as the feature pipeline builds them, from a 1-s series.

    ``history`` = previous readings available (0..10): lags beyond it are NaN, as are the Δt
    lags whose older reading is missing. Returns (frequency lags, Δt lags, target f(t0 + 5 s)).
    """
    k = np.arange(N_STEPS)
    idx = ends[:, None] - k[None, :] * cadence[:, None]
    f = f_true[np.clip(idx, 0, None)] + rng.normal(0, METER_NOISE_HZ, idx.shape)
    f[k[None, :] > history[:, None]] = np.nan
    dt = np.broadcast_to(cadence[:, None].astype(float), idx.shape).copy()
    dt[k[None, :] + 1 > history[:, None]] = np.nan
    return f, dt, f_true[ends + int(HORIZON_S)]


def _sample(
    f_true: np.ndarray, mask: np.ndarray, n: int, rng: np.random.Generator, cadence: int | None = None
):
    """Up to n random sequence ends whose whole window (10 steps back) and target (5 s ahead)
    lie inside ``mask``; cadences drawn from CADENCES_S unless fixed; 10 % truncated histories."""
    cad = rng.choice(CADENCES_S, size=n, p=CADENCE_P) if cadence is None else np.full(n, cadence)
    ends = rng.choice(np.flatnonzero(mask), size=n)
    start, stop = ends - cad * N_STEPS, ends + int(HORIZON_S)
    keep = (start >= 0) & (stop < len(f_true))
    keep[keep] &= mask[start[keep]] & mask[stop[keep]]
    ends, cad = ends[keep], cad[keep]
    history = np.where(rng.random(len(ends)) < 0.1, rng.integers(1, 10, len(ends)), 10)
    return ends, cad, history


def _torch_net():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l0 = nn.LSTM(8, 64, batch_first=True)
            self.l1 = nn.LSTM(64, 32, batch_first=True)
            self.head = nn.Linear(32, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h, _ = self.l0(x)
            h, _ = self.l1(h)
            return self.head(h[:, -1])

    return Net()


def _export(net) -> dict[str, np.ndarray]:
    out = {}
    for k, layer in enumerate((net.l0, net.l1)):
        out[f"l{k}_w_ih"] = layer.weight_ih_l0.detach().numpy().astype(np.float64)
        out[f"l{k}_w_hh"] = layer.weight_hh_l0.detach().numpy().astype(np.float64)
        out[f"l{k}_b"] = (layer.bias_ih_l0 + layer.bias_hh_l0).detach().numpy().astype(np.float64)
    out["head_w"] = net.head.weight.detach().numpy().astype(np.float64)
    out["head_b"] = net.head.bias.detach().numpy().astype(np.float64)
    return out


def _fit(x, y, xv, yv, lr: float, epochs: int, ctx: TrainContext, budget_s: float):
    import torch

    torch.manual_seed(ctx.seed)
    torch.set_num_threads(max(1, min(2, ctx.n_jobs)))
    net = _torch_net()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y[:, None], dtype=torch.float32)
    xvt = torch.tensor(xv, dtype=torch.float32)
    best, best_state, history = np.inf, None, []
    gen = torch.Generator().manual_seed(ctx.seed)
    started = time.perf_counter()
    for _epoch in range(epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=gen)
        for a in range(0, len(xt), 512):
            b = perm[a : a + 512]
            opt.zero_grad()
            loss = torch.nn.functional.huber_loss(net(xt[b]), yt[b], delta=0.5)
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            val_mae = float(np.mean(np.abs(net(xvt).numpy()[:, 0] - yv))) / SCALE_HZ
        history.append(val_mae)
        if val_mae < best:  # early stopping on the validation block
            best, best_state = val_mae, {k: v.clone() for k, v in net.state_dict().items()}
        if time.perf_counter() - started > budget_s:
            break
    net.load_state_dict(best_state)
    return net, best, history


def train(ctx: TrainContext) -> TrainResult:
    freq = ctx.table("frequency")
    f_true = freq["frequency_hz"].to_numpy(float)
    in_trip = freq["in_trip"].to_numpy(bool)
    f0 = float(ctx.table("frequency_trips")["f0_hz"].iloc[0]) if len(ctx.table("frequency_trips")) else 50.0
    # Embargo ≥ the longest window (10 × 60 s) + horizon: no training window reaches the test block.
    split = split_by_time(np.arange(len(f_true), dtype=float), embargo=N_STEPS * 60 + HORIZON_S + 60)
    rng = ctx.rng
    n_train = 20_000 if ctx.quick else 100_000
    n_eval = 10_000 if ctx.quick else 40_000

    def dataset(mask, n, cadence=None, history_full=False):
        ends, cad, hist = _sample(f_true, mask, n, rng, cadence)
        if history_full:
            hist = np.full(len(ends), 10)
        fl, dl, target = lag_samples(f_true, ends, cad, hist, rng)
        x = build_sequences(fl, dl, np.full(len(ends), f0))
        return x, (target - fl[:, 0]) * SCALE_HZ, fl[:, 0], target, ends

    x_tr, y_tr, *_ = dataset(split.train, n_train)
    x_va, y_va, *_ = dataset(split.val, n_eval)
    # Fixed epoch counts (deterministic on a loaded machine); the wall-clock guard only stops a
    # run that would blow the profile's budget and is reported in the manifest if it fires.
    epochs = 7 if ctx.quick else 12
    guard_s = 60.0 if ctx.quick else 150.0
    lrs = (3e-3,) if ctx.quick else (1e-3, 3e-3)
    tried = []
    if len(lrs) > 1:
        # Learning rate chosen on the validation block with a short fit on a subsample.
        n_tune = min(len(x_tr), 30_000)
        for lr in lrs:
            _, val_mae, hist = _fit(x_tr[:n_tune], y_tr[:n_tune], x_va, y_va, lr, 5, ctx, guard_s / 4)
            tried.append({"lr": lr, "val_mae_hz": val_mae, "epochs_run": len(hist), "tuning_rows": n_tune})
        best_lr = min(tried, key=lambda t: t["val_mae_hz"])["lr"]
    else:
        best_lr = lrs[0]
    best_net, val_mae, best_curve = _fit(x_tr, y_tr, x_va, y_va, best_lr, epochs, ctx, guard_s)
    tried.append({"lr": best_lr, "val_mae_hz": val_mae, "epochs_run": len(best_curve), "final": True})
    arrays = _export(best_net)
    model_path = ctx.path("frequency_lstm.npz")
    np.savez(model_path, **arrays)
    numpy_net = NumpyLSTM(arrays)

    # Held-out test block (contains generator trips), evaluated through the numpy serving pass.
    results = {}
    for label, cad in (("1s", 1), ("60s", 60)):
        x_te, _, f_last, target, ends = dataset(split.test, n_eval, cadence=cad, history_full=True)
        pred = f_last + numpy_net(x_te)[:, 0] / SCALE_HZ
        err, err_p = np.abs(pred - target), np.abs(f_last - target)
        trip = in_trip[ends]
        results[label] = {
            "mae": float(err.mean()),
            "persist": float(err_p.mean()),
            "mae_trip": float(err[trip].mean()) if trip.any() else float("nan"),
            "persist_trip": float(err_p[trip].mean()) if trip.any() else float("nan"),
            "n": int(len(ends)),
            "n_trip": int(trip.sum()),
        }
    r1 = results["1s"]
    gain = 1 - r1["mae"] / r1["persist"]

    # Plot: a stretch of the test block around a trip (or the start) at 1-s cadence.
    test_idx = np.flatnonzero(split.test)
    trips = test_idx[in_trip[test_idx]]
    start = int(trips[0]) - 60 if len(trips) else int(test_idx[0]) + 60
    ends = np.arange(max(start, test_idx[0] + 20), min(start + 600, len(f_true) - 10))
    fl, dl, target = lag_samples(f_true, ends, np.ones(len(ends), int), np.full(len(ends), 10), rng)
    pred = fl[:, 0] + numpy_net(build_sequences(fl, dl, np.full(len(ends), f0)))[:, 0] / SCALE_HZ
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    tt = ends + HORIZON_S - ends[0]
    ax.plot(tt, target, label="true f(t+5 s)", lw=1.5)
    ax.plot(tt, fl[:, 0], label="persistence", lw=1, alpha=0.8)
    ax.plot(tt, pred, label="LSTM", lw=1)
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    ax.set_title("Held-out test: 5 s ahead" + (" around a generator trip" if len(trips) else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.report_dir / f"{NAME}_trip_example.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.arange(1, len(best_curve) + 1), np.array(best_curve) * 1e3, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MAE (mHz)")
    ax.set_title("Training curve")
    fig.tight_layout()
    fig.savefig(ctx.report_dir / f"{NAME}_training_curve.png", dpi=90)
    plt.close(fig)

    table = md_table(
        [
            "cadence",
            "test windows",
            "LSTM MAE (Hz)",
            "persistence MAE (Hz)",
            "during trips: LSTM / persistence (Hz)",
        ],
        [
            [
                k,
                v["n"],
                v["mae"],
                v["persist"],
                f"{v['mae_trip']:.4g} / {v['persist_trip']:.4g} ({v['n_trip']} windows)",
            ]
            for k, v in results.items()
        ],
    )
    n_trips = int(len(ctx.table("frequency_trips")))
    report = f"""
LSTM(8→64) → LSTM(64→32) → linear, trained with PyTorch and served by a numpy forward pass.
Inputs: 10 steps × 8 (see `gridtwin/models/_monitoring/frequency_sequence.py`) from the lag features;
output: the change over persistence 5 s ahead. Training sequences mix reading cadences (1 s 60 %,
2/5/10/60 s 10 % each) and 10 % truncated histories; meter noise σ = 1 mHz. Data: {len(f_true)} s of
simulated frequency with {n_trips} generator trips; split 70/15/15 by time, embargo 11 min.

## Held-out test (last 15 % of the time span)

{table}

Goal: MAE < 0.02 Hz and ≥ 20 % below persistence at the 1-s cadence: LSTM {r1["mae"]:.4f} Hz vs persistence
{r1["persist"]:.4f} Hz ({gain:.1%} lower).

`stability_score` = 100·(1 − max(u_f, u_r)), u_f = min(1, |f_pred − f_n| / (0.004·f_n)) (ENTSO-E ±200 mHz),
u_r = min(1, |ROCOF| / (0.01·f_n /s)) (0.5 Hz/s at 50 Hz). Trend: predicted change beyond ±10 mHz.

![trip]({NAME}_trip_example.png)
![curve]({NAME}_training_curve.png)

Learning rates tried (validation block, early stopping): {[{k: v for k, v in t.items() if k != "curve"} for t in tried]}
"""
    met = r1["mae"] < 0.02 and gain >= 0.2
    notes = (
        f"lr {best_lr} selected on the validation block (hold-out validation with early stopping rather than 5-fold "
        "CV: an LSTM fit per fold does not fit the time budget). "
        f"1-s cadence: MAE {r1['mae']:.4f} Hz vs persistence {r1['persist']:.4f} Hz, {gain:.1%} lower "
        f"(goal MAE < 0.02 Hz and ≥ 20 % lower: {'met' if met else 'MISSED'}). At a 60-s reading cadence: "
        f"{results['60s']['mae']:.4f} vs {results['60s']['persist']:.4f} Hz — with readings a minute apart the history "
        "says little about the next 5 s. The simulator's 1-min readings have a 60-s cadence, so served readings at that "
        "cadence get the weaker answer."
    )
    lat = np.full((20, len(FEATURE_NAMES)), np.nan)
    ends, cad, hist = _sample(f_true, split.test, 20, rng, cadence=1)
    fl, dl, _ = lag_samples(f_true, ends, cad, np.full(len(ends), 10), rng)
    names = list(FEATURE_NAMES)
    for k in range(N_STEPS):
        lat[:, names.index(f"frequency_lag_{k}")] = fl[:, k]
        lat[:, names.index(f"dt_lag_{k}")] = dl[:, k]
    lat[:, names.index("frequency_hz")] = fl[:, 0]
    lat[:, names.index("nominal_frequency_hz")] = f0
    lat[:, names.index("rocof_hz_per_s")] = (fl[:, 0] - fl[:, 1]) / dl[:, 0]
    return TrainResult(
        algorithm="LSTM 64/32 (PyTorch-trained, numpy-served), 5 s ahead",
        artifacts={"model": model_path},
        features=[
            *(f"frequency_lag_{k}" for k in range(N_STEPS)),
            *(f"dt_lag_{k}" for k in range(N_STEPS)),
            "frequency_hz",
            "nominal_frequency_hz",
            "rocof_hz_per_s",
        ],
        metrics=[
            Metric(
                "mae_hz_1s_cadence", r1["mae"], r1["persist"], "persistence", "< 0.02", higher_is_better=False
            ),
            Metric("improvement_over_persistence", float(gain), 0.0, "persistence", ">= 0.2"),
            Metric(
                "mae_hz_trips_1s_cadence",
                r1["mae_trip"],
                r1["persist_trip"],
                "persistence",
                "",
                higher_is_better=False,
            ),
            Metric(
                "mae_hz_60s_cadence",
                results["60s"]["mae"],
                results["60s"]["persist"],
                "persistence",
                "",
                higher_is_better=False,
            ),
        ],
        hyperparameters={
            "layers": [64, 32],
            "steps": N_STEPS,
            "inputs": 8,
            "horizon_s": HORIZON_S,
            "lr": best_lr,
            "batch": 512,
            "loss": "huber(0.5) on 0.1-Hz units",
            "epochs_max": epochs,
            "cadences_s": CADENCES_S.tolist(),
            "cadence_p": CADENCE_P.tolist(),
        },
        training_data={
            "table": "frequency (1 s)",
            "seconds": int(len(f_true)),
            "trips": n_trips,
            "train_sequences": int(len(x_tr)),
        },
        split={
            "method": "time blocks 70/15/15 with embargo (system-wide series: no meters)",
            "embargo_s": N_STEPS * 60 + HORIZON_S + 60,
            "rows": {
                "train": int(split.train.sum()),
                "val": int(split.val.sum()),
                "test": int(split.test.sum()),
            },
        },
        cross_validation={
            "method": "validation block + early stopping",
            "tried": [{k: v for k, v in t.items() if k != "curve"} for t in tried],
        },
        report_md=report,
        notes=notes,
        latency_rows=lat,
    )
