"""Train 1.3 frequency stability: an LSTM (64 → 32) predicting the frequency 5 s ahead.

Data: the simulator's 1-s system frequency (``frequency.parquet``: swing equation, droop, AGC,
load noise, generator trips). Sequences are built exactly as served: lag vectors
``frequency_lag_0..9`` / ``dt_lag_0..9`` at a reading cadence (1 s mostly; 2, 5, 10 and 60 s
so the network sees the Δt inputs vary) with meter noise σ = 1 mHz on the inputs (the
simulator's meter model), half of them read in 0.01-Hz steps, and most training and validation
sequences with a fast frequency component added (see FAST_TAU_S), then :func:`build_sequences`.
Label: the true frequency 5 s after the newest reading (physics output, never a threshold of
the inputs). Baseline: persistence.

Served: f_0 + α·Δ_LSTM, the shrinkage α per reading cadence chosen on the validation block's
regimes (minimax, training/models/_monitoring/frequency_shrinkage.py) and registered as the
``params`` artifact; every figure below is of the served prediction.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.signal import lfilter

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._monitoring.frequency_sequence import HORIZON_S, N_STEPS, SCALE_HZ, build_sequences
from gridtwin.models._monitoring.frequency_shrinkage import PARAMS_ARTIFACT, PARAMS_FILE, Shrinkage
from gridtwin.serving.runtime import OnnxModel
from training.context import Metric, TrainContext, TrainResult
from training.keras_export import configure, export_onnx, onnx_parity
from training.models._monitoring.common import md_table, plt
from training.models._monitoring.frequency_shrinkage import ALPHA_GRID, minimax_alpha
from training.spec import TrainingSpec
from training.split import split_by_time

NAME = "frequency_stability"
METER_NOISE_HZ = 0.001
#: Reading resolutions trained on (Hz; 0 = unquantised): many meters report frequency in
#: 0.01-Hz steps (IEC 61000-4-30 class S allows ±50 mHz uncertainty), and a network fitted only
#: on 1-mHz inputs reads each 10-mHz step as a ROCOF and extrapolates it.
RESOLUTIONS_HZ = np.array([0.0, 0.01])
#: Fast frequency fluctuations the simulator lacks: its imbalance drive is an Ornstein–Uhlenbeck
#: process with τ = 300 s, so its 1-s frequency carries the swing equation's momentum (a trend
#: persists for seconds). Fast load and generation noise gives grid frequency a component whose
#: recent trend does not persist; training series add one (OU, correlation time τ, σ) so the
#: network must tell from the history whether extrapolating the trend pays.
FAST_TAU_S = (5.0, 15.0, 40.0, 120.0)
FAST_SIGMA_HZ = (0.01, 0.025)
FAST_SHARE = 0.6  # of the training and validation sequences
CADENCES_S = np.array([1, 2, 5, 10, 60])
CADENCE_P = np.array([0.6, 0.1, 0.1, 0.1, 0.1])
N_INPUTS = 8
PARITY_TOL = 1e-4  # ONNX Runtime vs Keras, in 0.1-Hz network units (10 µHz)


def lag_samples(
    f_true: np.ndarray,
    ends: np.ndarray,
    cadence: np.ndarray,
    history: np.ndarray,
    rng: np.random.Generator,
    series: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lag matrices (n, 10) as the feature pipeline builds them, from a 1-s series (or, with
    ``series``, from row ``series[j]`` of a (K, T) bank of 1-s series for sequence j).

    ``history`` = previous readings available (0..10): lags beyond it are NaN, as are the Δt
    lags whose older reading is missing. Each sequence is read by a meter of one resolution
    drawn from RESOLUTIONS_HZ. Returns (frequency lags, Δt lags, target f(t0 + 5 s)).
    """
    k = np.arange(N_STEPS)
    idx = ends[:, None] - k[None, :] * cadence[:, None]
    bank = np.atleast_2d(f_true)
    row = np.zeros(len(ends), int) if series is None else np.asarray(series, int)
    f = bank[row[:, None], np.clip(idx, 0, None)] + rng.normal(0, METER_NOISE_HZ, idx.shape)
    res = rng.choice(RESOLUTIONS_HZ, size=len(ends))[:, None]
    f = np.where(res > 0, np.round(f / np.where(res > 0, res, 1.0)) * res, f)
    f[k[None, :] > history[:, None]] = np.nan
    dt = np.broadcast_to(cadence[:, None].astype(float), idx.shape).copy()
    dt[k[None, :] + 1 > history[:, None]] = np.nan
    return f, dt, bank[row, ends + int(HORIZON_S)]


def fast_bank(f_true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(K, T) series: the simulator's frequency, then itself plus one fast OU component per
    (τ, σ) in FAST_TAU_S × FAST_SIGMA_HZ (exact AR(1) discretisation at 1 s)."""
    rows = [f_true]
    for tau in FAST_TAU_S:
        a = np.exp(-1.0 / tau)
        for sigma in FAST_SIGMA_HZ:
            e = rng.normal(0.0, sigma * np.sqrt(1 - a * a), len(f_true))
            e[0] = rng.normal(0.0, sigma)
            rows.append(f_true + lfilter([1.0], [1.0, -a], e))
    return np.vstack(rows)


def regime_names() -> list[str]:
    """Names of the rows of :func:`fast_bank`, in its order (the shrinkage's validation groups)."""
    return ["simulator"] + [
        f"+fast τ={tau:g} s σ={sigma * 1e3:g} mHz" for tau in FAST_TAU_S for sigma in FAST_SIGMA_HZ
    ]


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


def build_net(keras):
    """LSTM(8→64) → LSTM(64→32) → linear on the last hidden state (input "sequence" (n, 10, 8))."""
    return keras.Sequential(
        [
            keras.Input((N_STEPS, N_INPUTS), name="sequence"),
            keras.layers.LSTM(64, return_sequences=True),
            keras.layers.LSTM(32),
            keras.layers.Dense(1),
        ]
    )


def _best_epoch_callback(keras, budget_s: float):
    """Keeps the weights of the epoch with the lowest validation MAE (early stopping on the
    validation block) and stops a fit that would blow the profile's wall-clock budget."""

    class BestEpoch(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best, self.weights, self.curve = np.inf, None, []
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None) -> None:
            val_mae = float(logs["val_mae"]) / SCALE_HZ
            self.curve.append(val_mae)
            if val_mae < self.best:
                self.best, self.weights = val_mae, self.model.get_weights()
            if time.perf_counter() - self.started > budget_s:
                self.model.stop_training = True

        def on_train_end(self, logs=None) -> None:
            if self.weights is not None:
                self.model.set_weights(self.weights)

    return BestEpoch()


def _fit(x, y, xv, yv, lr: float, epochs: int, ctx: TrainContext, budget_s: float):
    """Keras fit (Adam, Huber δ = 0.5 on 0.1-Hz units, batch 512); returns (net, best val MAE Hz, curve)."""
    keras = configure(ctx.seed, threads=min(2, ctx.n_jobs))
    net = build_net(keras)
    net.compile(optimizer=keras.optimizers.Adam(lr), loss=keras.losses.Huber(delta=0.5), metrics=["mae"])
    best = _best_epoch_callback(keras, budget_s)
    net.fit(
        x.astype(np.float32),
        y.astype(np.float32)[:, None],
        batch_size=512,
        epochs=epochs,
        validation_data=(xv.astype(np.float32), yv.astype(np.float32)[:, None]),
        callbacks=[best],
        verbose=0,
    )
    return net, best.best, best.curve


class _Data:
    """The frequency series, its time split and a sequence sampler (serving's lag layout)."""

    def __init__(self, ctx: TrainContext) -> None:
        freq = ctx.table("frequency")
        trips = ctx.table("frequency_trips")
        self.f_true = freq["frequency_hz"].to_numpy(float)
        self.in_trip = freq["in_trip"].to_numpy(bool)
        self.n_trips = int(len(trips))
        self.f0 = float(trips["f0_hz"].iloc[0]) if len(trips) else 50.0
        # Embargo ≥ the longest window (10 × 60 s) + horizon: no training window reaches the test block.
        self.embargo_s = N_STEPS * 60 + HORIZON_S + 60
        self.split = split_by_time(np.arange(len(self.f_true), dtype=float), embargo=self.embargo_s)
        self.rng = ctx.rng
        self.bank = fast_bank(self.f_true, self.rng)

    def sequences(self, mask, n, cadence=None, history_full=False, fast=False, row=0):
        """(x, y in 0.1-Hz units over persistence, last frequency, target, window ends);
        ``fast``: FAST_SHARE of the sequences carry a fast component (training and validation);
        otherwise all come from bank row ``row`` (0 = the simulator's own series)."""
        ends, cad, hist = _sample(self.f_true, mask, n, self.rng, cadence)
        if history_full:
            hist = np.full(len(ends), 10)
        series = np.full(len(ends), row, int)
        if fast:
            with_fast = self.rng.random(len(ends)) < FAST_SHARE
            series[with_fast] = self.rng.integers(1, len(self.bank), int(with_fast.sum()))
        fl, dl, target = lag_samples(self.bank, ends, cad, hist, self.rng, series)
        x = build_sequences(fl, dl, np.full(len(ends), self.f0))
        return x, (target - fl[:, 0]) * SCALE_HZ, fl[:, 0], target, ends


#: Learning rate, fixed: the full profile's validation search over (1e-3, 3e-3) (5 epochs on
#: 30,000 sequences each) picked 3e-3 on every published run (val MAE 9.93 vs 9.94 mHz, a tie),
#: and the quick profile always used it; the search cost a quarter of the fit.
LEARNING_RATE = 3e-3
#: Validation sequences scored after every epoch (early stopping); the shrinkage and the test
#: draw their own windows. 20,000 rather than the 40,000 drawn: the epoch MAE's sampling error
#: (~0.05 mHz) stays well below the differences between epochs that early stopping reads.
N_EPOCH_VAL = 20_000


def _tune_and_fit(ctx: TrainContext, x_tr, y_tr, x_va, y_va):
    """The final fit at LEARNING_RATE, best epoch kept on the validation block.

    Fixed epoch counts (deterministic on a loaded machine); the wall-clock guard only stops a
    run that would blow the profile's budget and shows in the manifest if it fires. Full: 8
    epochs (was 12: the validation curve flattens after epoch 5, 9.64 mHz at 5, 9.62 at 8,
    9.55 at 12, published full run) on 100,000 sequences."""
    epochs = 7 if ctx.quick else 8
    guard_s = 60.0 if ctx.quick else 150.0
    x_va, y_va = x_va[:N_EPOCH_VAL], y_va[:N_EPOCH_VAL]
    net, val_mae, curve = _fit(x_tr, y_tr, x_va, y_va, LEARNING_RATE, epochs, ctx, guard_s)
    tried = [{"lr": LEARNING_RATE, "val_mae_hz": val_mae, "epochs_run": len(curve), "final": True}]
    return net, {"lr": LEARNING_RATE, "epochs": epochs, "curve": curve, "tried": tried}


def _choose_shrinkage(data: _Data, served: OnnxModel, n_per_group: int) -> tuple[Shrinkage, list[dict]]:
    """α per trained reading cadence: minimax over the validation block's regimes (the
    simulator's series and it plus each fast component), full histories, through the served
    graph. Returns the shrinkage and, per cadence, the figures it was chosen from."""
    names, alphas, table = regime_names(), [], []
    for cad in CADENCES_S:
        groups = []
        for row in range(len(data.bank)):
            x, _, f_last, target, _ = data.sequences(
                data.split.val, n_per_group, cadence=int(cad), history_full=True, row=row
            )
            groups.append((f_last, served.run_one(x)[:, 0] / SCALE_HZ, target))
        alpha, ratios = minimax_alpha(groups)
        chosen = ratios[:, int(np.argmin(np.abs(ALPHA_GRID - alpha)))]
        alphas.append(alpha)
        table.append(
            {
                "cadence_s": int(cad),
                "alpha": alpha,
                "worst_ratio": float(chosen.max()),
                "worst_regime": names[int(np.argmax(chosen))],
                "worst_ratio_unshrunk": float(ratios[:, -1].max()),
                "worst_regime_unshrunk": names[int(np.argmax(ratios[:, -1]))],
                "windows_per_regime": int(min(len(g[0]) for g in groups)),
            }
        )
    return Shrinkage(tuple(float(c) for c in CADENCES_S), tuple(alphas)), table


def _evaluate(data: _Data, served: OnnxModel, shrinkage: Shrinkage, n_eval: int) -> dict[str, dict]:
    """Held-out test block (contains generator trips) through the served ONNX graph and the
    served shrinkage; ``mae_unshrunk`` is the network's full correction (α = 1) beside it."""
    results = {}
    for label, cad in (("1s", 1), ("60s", 60)):
        x_te, _, f_last, target, ends = data.sequences(
            data.split.test, n_eval, cadence=cad, history_full=True
        )
        correction = served.run_one(x_te)[:, 0] / SCALE_HZ
        pred = f_last + shrinkage.alpha(np.full(len(ends), float(cad))) * correction
        err, err_p = np.abs(pred - target), np.abs(f_last - target)
        trip = data.in_trip[ends]
        results[label] = {
            "alpha": float(shrinkage.alpha(np.array([float(cad)]))[0]),
            "mae_unshrunk": float(np.abs(f_last + correction - target).mean()),
            "mae": float(err.mean()),
            "persist": float(err_p.mean()),
            "mae_trip": float(err[trip].mean()) if trip.any() else float("nan"),
            "persist_trip": float(err_p[trip].mean()) if trip.any() else float("nan"),
            "n": int(len(ends)),
            "n_trip": int(trip.sum()),
        }
    return results


def _plots(
    ctx: TrainContext, data: _Data, served: OnnxModel, shrinkage: Shrinkage, curve: list[float]
) -> None:
    """A stretch of the test block around a trip (or its start) at 1-s cadence; the training curve."""
    test_idx = np.flatnonzero(data.split.test)
    trips = test_idx[data.in_trip[test_idx]]
    start = int(trips[0]) - 60 if len(trips) else int(test_idx[0]) + 60
    ends = np.arange(max(start, test_idx[0] + 20), min(start + 600, len(data.f_true) - 10))
    ones = np.ones(len(ends), int)
    fl, dl, target = lag_samples(data.f_true, ends, ones, np.full(len(ends), 10), data.rng)
    correction = served.run_one(build_sequences(fl, dl, np.full(len(ends), data.f0)))[:, 0] / SCALE_HZ
    pred = fl[:, 0] + shrinkage.alpha(dl[:, 0]) * correction
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    tt = ends + HORIZON_S - ends[0]
    ax.plot(tt, target, label="true f(t+5 s)", lw=1.5)
    ax.plot(tt, fl[:, 0], label="persistence", lw=1, alpha=0.8)
    ax.plot(tt, pred, label="LSTM (shrunk, served)", lw=1)
    ax.set_xlabel("s")
    ax.set_ylabel("Hz")
    ax.set_title("Held-out test: 5 s ahead" + (" around a generator trip" if len(trips) else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(ctx.report_dir / f"{NAME}_trip_example.png", dpi=90)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.arange(1, len(curve) + 1), np.array(curve) * 1e3, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MAE (mHz)")
    ax.set_title("Training curve")
    fig.tight_layout()
    fig.savefig(ctx.report_dir / f"{NAME}_training_curve.png", dpi=90)
    plt.close(fig)


def _shrinkage_table(chosen: list[dict]) -> str:
    """The per-cadence α and the worst validation regime's ratio to persistence, α vs 1."""
    return md_table(
        [
            "cadence (s)",
            "α",
            "worst MAE / persistence at α (regime)",
            "at α = 1 (regime)",
            "windows per regime",
        ],
        [
            [
                c["cadence_s"],
                c["alpha"],
                f"{c['worst_ratio']:.3f} ({c['worst_regime']})",
                f"{c['worst_ratio_unshrunk']:.3f} ({c['worst_regime_unshrunk']})",
                c["windows_per_regime"],
            ]
            for c in chosen
        ],
    )


def _results_table(results: dict) -> str:
    """Per test cadence: windows, α, served / unshrunk / persistence MAE (Hz) and the trips."""
    return md_table(
        [
            "cadence",
            "test windows",
            "α",
            "served MAE (Hz)",
            "LSTM unshrunk (α = 1) MAE (Hz)",
            "persistence MAE (Hz)",
            "during trips: served / persistence (Hz)",
        ],
        [
            [
                k,
                v["n"],
                v["alpha"],
                v["mae"],
                v["mae_unshrunk"],
                v["persist"],
                f"{v['mae_trip']:.4g} / {v['persist_trip']:.4g} ({v['n_trip']} windows)",
            ]
            for k, v in results.items()
        ],
    )


def _report(data: _Data, results: dict, fit: dict, chosen: list[dict], parity: float) -> tuple[str, str]:
    """The Markdown report body and the manifest notes."""
    r1 = results["1s"]
    gain = 1 - r1["mae"] / r1["persist"]
    gain_unshrunk = 1 - r1["mae_unshrunk"] / r1["persist"]
    table = _results_table(results)
    report = f"""
LSTM(8→64) → LSTM(64→32) → linear, trained with Keras (TensorFlow backend), exported to ONNX and
served by ONNX Runtime (largest |ONNX − Keras| on the held-out 1-s windows: {parity:.2g} in 0.1-Hz units).
Inputs: 10 steps × 8 (see `gridtwin/models/_monitoring/frequency_sequence.py`) from the lag features;
output: the change over persistence 5 s ahead. Training sequences mix reading cadences (1 s 60 %,
2/5/10/60 s 10 % each) and 10 % truncated histories; meter noise σ = 1 mHz, half the sequences read in
0.01-Hz steps. {FAST_SHARE:.0%} of the training and validation sequences add a fast frequency component
(Ornstein–Uhlenbeck, τ ∈ {list(FAST_TAU_S)} s, σ ∈ {[s * 1e3 for s in FAST_SIGMA_HZ]} mHz) that the
simulator's slow imbalance drive lacks; the test below is the simulator's own series. Data:
{len(data.f_true)} s of simulated frequency with {data.n_trips} generator trips; split 70/15/15 by time,
embargo 11 min.

Served prediction: f_0 + α·Δ_LSTM. The network's correction extrapolates the recent trend, which pays
on the simulator's series (it carries the swing equation's momentum) but overshoots where the trend
does not persist (primary control pulls the frequency back, a fast component reverts): the worst
validation regime at α = 1 below shows it on the training generator itself. The shrinkage α ∈ [0, 1] (steps of 0.05)
is chosen per reading cadence on the validation block only: one group per regime (the simulator's
series, and it plus each fast component), and α minimises the worst group's MAE over persistence's
(robust, not the mean; α = 0 is persistence, so no validation regime does worse than it). Between
the trained cadences α is interpolated on log Δt. Registered as `{PARAMS_FILE}`; a registry without
it serves α = 1.

{_shrinkage_table(chosen)}

## Held-out test (last 15 % of the time span)

{table}

Goal: MAE < 0.02 Hz and ≥ 20 % below persistence at the 1-s cadence: served {r1["mae"]:.4f} Hz vs
persistence {r1["persist"]:.4f} Hz ({gain:.1%} lower; the unshrunk network {r1["mae_unshrunk"]:.4f} Hz,
{gain_unshrunk:.1%} lower). The shrinkage gives up part of the gain on this series, where extrapolating
the trend pays most, for robustness on the validation regimes where it overshoots.

`stability_score` = 100·(1 − max(u_f, u_r)), u_f = min(1, |f_pred − f_n| / (0.004·f_n)) (ENTSO-E ±200 mHz),
u_r = min(1, |ROCOF| / (0.01·f_n /s)) (0.5 Hz/s at 50 Hz). Trend: predicted change beyond ±10 mHz.

![trip]({NAME}_trip_example.png)
![curve]({NAME}_training_curve.png)

Final fit (learning rate fixed, best epoch on the validation block): {fit["tried"]}
"""
    met = r1["mae"] < 0.02 and gain >= 0.2
    notes = (
        f"lr {fit['lr']} fixed (the validation search over 1e-3 and 3e-3 always picked it; early stopping on the "
        "validation block rather than 5-fold CV: an LSTM fit per fold does not fit the time budget). "
        f"Shrinkage α per cadence (minimax over the validation regimes): "
        f"{dict((c['cadence_s'], c['alpha']) for c in chosen)}. "
        f"1-s cadence: served MAE {r1['mae']:.4f} Hz vs persistence {r1['persist']:.4f} Hz, {gain:.1%} lower "
        f"(unshrunk network {gain_unshrunk:.1%}; goal MAE < 0.02 Hz and ≥ 20 % lower: "
        f"{'met' if met else 'MISSED'}). At a 60-s reading cadence: "
        f"{results['60s']['mae']:.4f} vs {results['60s']['persist']:.4f} Hz — with readings a minute apart the "
        "history says little about the next 5 s. The simulator's 1-min readings have a 60-s cadence, so served "
        "readings at that cadence get the weaker answer."
    )
    return report, notes


def _latency_rows(data: _Data) -> np.ndarray:
    """Feature rows (full schema) of 20 test windows, to time the serving code."""
    lat = np.full((20, len(FEATURE_NAMES)), np.nan)
    ends, cad, _ = _sample(data.f_true, data.split.test, 20, data.rng, cadence=1)
    fl, dl, _ = lag_samples(data.f_true, ends, cad, np.full(len(ends), 10), data.rng)
    lat = lat[: len(ends)]
    names = list(FEATURE_NAMES)
    for k in range(N_STEPS):
        lat[:, names.index(f"frequency_lag_{k}")] = fl[:, k]
        lat[:, names.index(f"dt_lag_{k}")] = dl[:, k]
    lat[:, names.index("frequency_hz")] = fl[:, 0]
    lat[:, names.index("nominal_frequency_hz")] = data.f0
    lat[:, names.index("rocof_hz_per_s")] = (fl[:, 0] - fl[:, 1]) / dl[:, 0]
    return lat


def _metrics(results: dict) -> list[Metric]:
    r1, r60 = results["1s"], results["60s"]
    gain = 1 - r1["mae"] / r1["persist"]
    lower = {"baseline_name": "persistence", "higher_is_better": False}
    return [
        Metric("mae_hz_1s_cadence", r1["mae"], r1["persist"], goal="< 0.02", **lower),
        Metric("improvement_over_persistence", float(gain), 0.0, "persistence", ">= 0.2"),
        Metric("mae_hz_trips_1s_cadence", r1["mae_trip"], r1["persist_trip"], **lower),
        Metric("mae_hz_60s_cadence", r60["mae"], r60["persist"], **lower),
    ]


class Spec(TrainingSpec):
    """The frequency LSTM: sequences in serving's lag layout, Keras fit, ONNX export."""

    name = NAME

    def data(self) -> None:
        self.series = _Data(self.ctx)
        self.n_train = 20_000 if self.ctx.quick else 100_000
        self.n_eval = 10_000 if self.ctx.quick else 40_000

    def split(self) -> None:
        """A system-wide series: time blocks only, cut by ``_Data`` (embargo ≥ the longest window)."""
        self.parts = self.series.split

    def features(self) -> None:
        data = self.series
        self.x_tr, self.y_tr, *_ = data.sequences(data.split.train, self.n_train, fast=True)
        self.x_va, self.y_va, *_ = data.sequences(data.split.val, self.n_eval, fast=True)

    def fit(self) -> None:
        self.net, self.fit_info = _tune_and_fit(self.ctx, self.x_tr, self.y_tr, self.x_va, self.y_va)

    def export(self) -> None:
        """The ONNX graph, then the shrinkage chosen through it (what is served) on the
        validation block, written beside it."""
        self.model_path = export_onnx(self.net, self.ctx.path("frequency_lstm.onnx"))
        n_per_group = 4000 if self.ctx.quick else 10_000
        self.shrinkage, self.shrinkage_table = _choose_shrinkage(
            self.series, OnnxModel(self.model_path), n_per_group
        )
        params_path = self.ctx.path(PARAMS_FILE)
        params_path.write_text(self.shrinkage.to_json())
        self.artifacts = {"model": self.model_path, PARAMS_ARTIFACT: params_path}

    def evaluate(self) -> None:
        """Through the served ONNX graph; the parity rows are drawn after the evaluation and its
        plots, so the check leaves the evaluated test windows unchanged."""
        data, served = self.series, OnnxModel(self.model_path)
        self.results = _evaluate(data, served, self.shrinkage, self.n_eval)
        _plots(self.ctx, data, served, self.shrinkage, self.fit_info["curve"])
        self.x_parity, *_ = data.sequences(data.split.test, 2000, cadence=1, history_full=True)
        self.parity = onnx_parity(self.net, self.model_path, self.x_parity)
        if self.parity > PARITY_TOL:
            raise RuntimeError(f"ONNX export differs from Keras by {self.parity:.3g} (> {PARITY_TOL})")
        self.metrics = _metrics(self.results)

    def report(self) -> TrainResult:
        data, fit = self.series, self.fit_info
        report, notes = _report(data, self.results, fit, self.shrinkage_table, self.parity)
        return TrainResult(
            algorithm="LSTM 64/32 (Keras-trained, ONNX Runtime-served) with a validated shrinkage, 5 s ahead",
            artifacts=self.artifacts,
            features=[
                *(f"frequency_lag_{k}" for k in range(N_STEPS)),
                *(f"dt_lag_{k}" for k in range(N_STEPS)),
                "frequency_hz",
                "nominal_frequency_hz",
                "rocof_hz_per_s",
            ],
            metrics=self.metrics,
            hyperparameters={
                "layers": [64, 32],
                "steps": N_STEPS,
                "inputs": N_INPUTS,
                "horizon_s": HORIZON_S,
                "lr": fit["lr"],
                "batch": 512,
                "loss": "huber(0.5) on 0.1-Hz units",
                "epochs_max": fit["epochs"],
                "cadences_s": CADENCES_S.tolist(),
                "cadence_p": CADENCE_P.tolist(),
                "framework": "keras (tensorflow backend) -> onnx",
                "shrinkage": {
                    "rule": "alpha per cadence minimising the worst validation regime's MAE / persistence",
                    "alpha_grid_step": float(ALPHA_GRID[1] - ALPHA_GRID[0]),
                    "per_cadence": self.shrinkage_table,
                },
            },
            training_data={
                "table": "frequency (1 s)",
                "seconds": int(len(data.f_true)),
                "trips": data.n_trips,
                "train_sequences": int(len(self.x_tr)),
            },
            split={
                "method": "time blocks 70/15/15 with embargo (system-wide series: no meters)",
                "embargo_s": data.embargo_s,
                "rows": {k: int(getattr(data.split, k).sum()) for k in ("train", "val", "test")},
            },
            cross_validation={"method": "validation block + early stopping", "tried": fit["tried"]},
            report_md=report,
            notes=notes,
            latency_rows=_latency_rows(data),
            extra={
                "onnx_parity": {
                    "max_abs": self.parity,
                    "tolerance": PARITY_TOL,
                    "units": "0.1 Hz",
                    "rows": len(self.x_parity),
                }
            },
        )
