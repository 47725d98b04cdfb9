"""Fitting the forecaster's members: ridge lag models, the Keras LSTM and Prophet.

Each ``fit_*`` returns the serving member (``gridtwin.forecast.members``) with its fitted
parameters; the LSTM is exported to ONNX at once, so validation forecasts already run through
the graph that serving runs. BLAS threads are capped by the caller (``fit_forecaster``).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from gridtwin.forecast import features as F
from gridtwin.forecast.config import Config
from gridtwin.forecast.members import LagModel, LSTMMember, ProphetMember
from gridtwin.forecast.track import Track

LSTM_BATCH = 128


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept (closed form on centred data; the
    same solution as sklearn.linear_model.Ridge)."""
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    gram = xc.T @ xc
    gram[np.diag_indices_from(gram)] += alpha
    coef = np.linalg.solve(gram, xc.T @ (y - ym))
    return coef, float(ym - xm @ coef)


def fit_lag(cfg: Config, tracks: list[Track], ends: list[int], season: int | None = None) -> LagModel:
    """Direct ridge per horizon on origins before each track's `end` (thinned to max_lag_samples)."""
    model = LagModel(cfg, season)
    coefs, icpts = [], []
    total = sum(max(0, end - model.min_origin()) for end in ends)
    stride = max(1, int(np.ceil(total / cfg.max_lag_samples)))
    for h in cfg.horizons:
        xs, ys = [], []
        for tr, end in zip(tracks, ends, strict=True):
            org = np.arange(model.min_origin(), end - h, stride)
            if len(org) == 0:
                continue
            x, base = model.features(tr, org, h)
            xs.append(x)
            ys.append(tr.z[org + h] - base)
        if not xs:
            raise ValueError(
                f"not enough history to fit the lag model (needs > {model.min_origin() + h} steps)"
            )
        coef, icpt = ridge(np.vstack(xs), np.concatenate(ys), cfg.alpha)
        coefs.append(coef)
        icpts.append(icpt)
    model.coef, model.intercept = np.array(coefs), np.array(icpts)
    return model


def lstm_samples(cfg: Config, tracks: list[Track], ends: list[int]) -> tuple[np.ndarray, ...]:
    """Raw sequence inputs, head inputs and targets (deviation from the seasonal naive) of every
    origin whose targets lie before `end`, subsampled to ``max_lstm_samples``."""
    member = LSTMMember(cfg)
    seqs, heads, ys = [], [], []
    for tr, end in zip(tracks, ends, strict=True):
        org = np.arange(member.min_origin(), end - cfg.max_h - 1)
        if len(org) == 0:
            continue
        seq, head, base = member.inputs(tr, org)
        seqs.append(seq)
        heads.append(head)
        ys.append(np.column_stack([tr.z[org + h] for h in cfg.horizons]) - base)
    if not seqs:
        raise ValueError("not enough history to fit the LSTM")
    seq, head, y = np.concatenate(seqs), np.concatenate(heads), np.concatenate(ys)
    if len(seq) > cfg.max_lstm_samples:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(seq), cfg.max_lstm_samples, replace=False))
        seq, head, y = seq[keep], head[keep], y[keep]
    return seq, head, y


def lstm_scaling(seq: np.ndarray, head: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Standardisation of the inputs (the slot's sin/cos channels stay as they are) and target."""
    flat = seq.reshape(-1, seq.shape[-1])
    s_mu, s_sd = flat.mean(axis=0), flat.std(axis=0) + 1e-6
    s_mu[3:], s_sd[3:] = 0.0, 1.0
    return {
        "s_mu": s_mu,
        "s_sd": s_sd,
        "h_sd": head.std(axis=0) + 1e-6,
        "y_sd": np.array([float(y.std()) + 1e-9]),
    }


def build_lstm(keras, seq_len: int, n_head: int, hidden: int, n_out: int):
    """LSTM(hidden) over ``seq`` (n, seq_len, 5); its last state and ``head`` (n, n_head) → linear."""
    seq = keras.Input((seq_len, F.N_SEQ_CHANNELS), name="seq")
    head = keras.Input((n_head,), name="head")
    state = keras.layers.LSTM(hidden)(seq)
    out = keras.layers.Dense(n_out)(keras.layers.Concatenate()([state, head]))
    return keras.Model([seq, head], out)


def fit_lstm(cfg: Config, tracks: list[Track], ends: list[int]) -> LSTMMember:
    """Keras fit (Adam with cosine decay, L1 loss, batch 128, one thread), exported to ONNX.

    The Keras model stays on the member as ``keras_model`` (for parity checks; never saved)."""
    from training.keras_export import configure, export_onnx

    seq, head, y = lstm_samples(cfg, tracks, ends)
    scaling = lstm_scaling(seq, head, y)
    member = LSTMMember(cfg)
    member.scaling = scaling
    feeds = member.network_inputs(seq, head)
    # One thread: the batches are small, and a second thread spins when the cores are shared.
    keras = configure(cfg.seed, threads=1)
    net = build_lstm(keras, cfg.seq_len, head.shape[1], cfg.hidden, len(cfg.horizons))
    steps = cfg.epochs * int(np.ceil(len(y) / LSTM_BATCH))
    net.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(cfg.lr, steps)), loss="mae"
    )
    target = (y / scaling["y_sd"][0]).astype(np.float32)
    net.fit([feeds["seq"], feeds["head"]], target, batch_size=LSTM_BATCH, epochs=cfg.epochs, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        graph = export_onnx(net, Path(tmp) / "lstm.onnx").read_bytes()
    member.set_graph(graph, scaling)
    member.keras_model = net
    return member


def fit_prophet(
    cfg: Config, tracks: list[Track], ends: list[int], step: pd.Timedelta, tz: str | None
) -> ProphetMember:
    """Prophet (daily + weekly seasonality) on the cross-series mean of z, exported as a
    (day of week × slot) seasonal table and a linear trend from the last fitted step."""
    from prophet import Prophet

    for name in ("prophet", "cmdstanpy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    steps, y = _mean_over_series(tracks, ends)
    ds_utc = pd.to_datetime(steps * step.value, utc=True)
    ds = (ds_utc.tz_convert(tz) if tz else ds_utc).tz_localize(None)
    model = Prophet(
        daily_seasonality=True, weekly_seasonality=True, yearly_seasonality=False, uncertainty_samples=0
    )
    model.fit(pd.DataFrame({"ds": ds, "y": y}), algorithm="LBFGS")
    monday = (ds[-1].normalize() - pd.Timedelta(days=ds[-1].dayofweek)) + pd.Timedelta(days=7)
    comp = model.predict(pd.DataFrame({"ds": pd.date_range(monday, periods=7 * cfg.day, freq=step)}))
    member = ProphetMember(cfg)
    member.table = (comp["yhat"] - comp["trend"]).to_numpy().reshape(7, cfg.day)
    trend = model.predict(pd.DataFrame({"ds": [ds[-1], ds[-1] + 1000 * step]}))["trend"].to_numpy()
    slope = (trend[1] - trend[0]) / 1000.0 if cfg.prophet_trend else 0.0
    member.trend = np.array([float(steps[-1]), float(trend[0]), float(slope)])
    return member


def _mean_over_series(tracks: list[Track], ends: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Cross-series mean of z per absolute step (one series for Prophet, however many meters)."""
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for tr, end in zip(tracks, ends, strict=True):
        for k in range(end):
            a = tr.abs0 + k
            sums[a] = sums.get(a, 0.0) + tr.z[k]
            counts[a] = counts.get(a, 0) + 1
    steps = np.array(sorted(sums))
    return steps, np.array([sums[a] / counts[a] for a in steps])
