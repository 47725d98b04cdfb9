"""Forecast members, the ensemble and the saved model.

Members (each predicts all horizons at once from an origin, in units of the series' scale):

* ``naive``   – weekly seasonal naive z[tau - week] (the baseline);
* ``lag``     – direct ridge regression per horizon on seasonal lags, recent seasonal
  deviations and the target's calendar (double-seasonal "AR on seasonal differences");
* ``lstm``    – a small LSTM over the last day (seasonal deviations, level, slot of day) with
  a linear head that also sees the target slots' lags; trained with torch, served by the
  numpy forward pass in this module (the benchmark uses the same numpy pass);
* ``prophet`` – Prophet (daily + weekly seasonality) fitted once on the fit period; its mean
  forecast is exported exactly as trend level + slope + a (day-of-week × slot) table of the
  seasonal components, so it is served without prophet;
* ``ensemble`` – non-negative per-horizon weights (summing to one) fitted on validation
  forecasts of members trained without the validation weeks; intervals are split-conformal
  residual quantiles of the ensemble on the same validation origins.

A ``short`` lag model (season = one day) serves meters with less than 8 days of history.

Only the `fit` functions import torch / prophet / scikit-learn (lazily); prediction, saving
and loading need numpy alone.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gridtwin.forecast import features as F

if TYPE_CHECKING:  # pandas stays out of the serving process
    import pandas as pd

    from gridtwin.forecast.data import LoadSeries

log = logging.getLogger(__name__)

MEMBERS = ("lag", "lstm", "prophet")


# ---- tracks: a normalised series with its calendar --------------------------------------


@dataclass
class Track:
    """A series normalised by `scale`, with the calendar known `extra` steps past its end."""

    z: np.ndarray
    slot: np.ndarray
    dow: np.ndarray
    abs0: int  # absolute step number of z[0] (UTC epoch / step), for Prophet's trend
    scale: float
    name: str = ""

    def __len__(self) -> int:
        return len(self.z)


def robust_scale(values: np.ndarray) -> float:
    s = float(np.mean(np.abs(values[np.isfinite(values)]))) if np.isfinite(values).any() else 0.0
    return s if s > 1e-9 else 1.0


def make_track(series: LoadSeries, extra: int, scale: float | None = None) -> Track:
    scale = robust_scale(series.values) if scale is None else scale
    slot, dow = series.calendar(len(series) + extra)
    return Track(
        z=series.values / scale,
        slot=slot,
        dow=dow,
        abs0=int(series.start.value // series.step.value),
        scale=scale,
        name=series.name,
    )


# ---- members ------------------------------------------------------------------------------


@dataclass
class Config:
    step_minutes: float
    horizons: list[int]  # steps ahead, 1..H
    day: int
    season: int
    level: float = 0.9
    alpha: float = 1e-3  # ridge
    seq_len: int = 0  # LSTM input length (default: one day)
    hidden: int = 24
    epochs: int = 40
    lr: float = 5e-3
    max_lstm_samples: int = 20000
    max_lag_samples: int = 30000  # per horizon (origins are thinned evenly above this)
    prophet_trend: bool = True  # extrapolate Prophet's trend (off for pooled, normalised meters)
    members: tuple[str, ...] = MEMBERS
    seed: int = 0
    n_jobs: int = 2

    def __post_init__(self) -> None:
        if not self.seq_len:
            self.seq_len = self.day

    @property
    def max_h(self) -> int:
        return max(self.horizons)


def _origins(track: Track, first: int, last_target: int, max_h: int, stride: int = 1) -> np.ndarray:
    """Origins whose every horizon's target is < last_target (training)."""
    return np.arange(first, last_target - max_h, stride)


class SeasonalNaive:
    def __init__(self, cfg: Config, season: int | None = None) -> None:
        self.cfg, self.season = cfg, season or cfg.season

    def min_origin(self) -> int:
        return max(F.lag_steps(h, self.season) - h for h in self.cfg.horizons)

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [F.seasonal_naive(track.z, origins, h, self.season) for h in self.cfg.horizons]
        )


def ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept (closed form on centred data; the
    same solution as sklearn.linear_model.Ridge)."""
    xm, ym = x.mean(axis=0), y.mean()
    xc = x - xm
    gram = xc.T @ xc
    gram[np.diag_indices_from(gram)] += alpha
    coef = np.linalg.solve(gram, xc.T @ (y - ym))
    return coef, float(ym - xm @ coef)


class LagModel:
    """Direct ridge per horizon: z[tau] - seasonal naive ~ lag features."""

    def __init__(self, cfg: Config, season: int | None = None) -> None:
        self.cfg, self.season = cfg, season or cfg.season
        self.coef: np.ndarray | None = None  # (H, F)
        self.intercept: np.ndarray | None = None  # (H,)

    def min_origin(self) -> int:
        return F.min_origin(self.cfg.horizons, self.cfg.day, self.season)

    def fit(self, tracks: list[Track], ends: list[int]) -> LagModel:
        cfg = self.cfg
        coefs, icpts = [], []
        total = sum(max(0, end - self.min_origin()) for end in ends)
        stride = max(1, int(np.ceil(total / cfg.max_lag_samples)))
        for h in cfg.horizons:
            xs, ys = [], []
            for tr, end in zip(tracks, ends, strict=True):
                org = np.arange(self.min_origin(), end - h, stride)
                if len(org) == 0:
                    continue
                x, base = F.lag_features(tr.z, tr.slot, tr.dow, org, h, cfg.day, self.season)
                xs.append(x)
                ys.append(tr.z[org + h] - base)
            if not xs:
                raise ValueError(
                    f"not enough history to fit the lag model (needs > {self.min_origin() + h} steps)"
                )
            coef, icpt = ridge(np.vstack(xs), np.concatenate(ys), cfg.alpha)
            coefs.append(coef)
            icpts.append(icpt)
        self.coef, self.intercept = np.array(coefs), np.array(icpts)
        return self

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        out = np.empty((len(origins), len(cfg.horizons)))
        for j, h in enumerate(cfg.horizons):
            x, base = F.lag_features(track.z, track.slot, track.dow, origins, h, cfg.day, self.season)
            out[:, j] = base + x @ self.coef[j] + self.intercept[j]
        return out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}coef": self.coef, f"{prefix}intercept": self.intercept}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> LagModel:
        self.coef, self.intercept = arrays[f"{prefix}coef"], arrays[f"{prefix}intercept"]
        return self


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class LSTMMember:
    """Small LSTM (torch for training, numpy for inference)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.w: dict[str, np.ndarray] = {}

    def min_origin(self) -> int:
        return F.lstm_min_origin(self.cfg.horizons, self.cfg.seq_len, self.cfg.day, self.cfg.season)

    def _inputs(self, track: Track, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        c = self.cfg
        seq = F.sequence_inputs(track.z, track.slot, origins, c.seq_len, c.day, c.season)
        head = F.head_inputs(track.z, origins, c.horizons, c.day, c.season)
        base = np.column_stack([F.seasonal_naive(track.z, origins, h, c.season) for h in c.horizons])
        return seq, head, base

    def fit(self, tracks: list[Track], ends: list[int]) -> LSTMMember:
        import torch

        c = self.cfg
        torch.manual_seed(c.seed)
        # one thread: the batches are small, and a second OpenMP thread spins when the cores are shared
        torch.set_num_threads(1)
        rng = np.random.default_rng(c.seed)
        seqs, heads, ys = [], [], []
        for tr, end in zip(tracks, ends, strict=True):
            org = _origins(tr, self.min_origin(), end, c.max_h + 1)
            if len(org) == 0:
                continue
            seq, head, base = self._inputs(tr, org)
            y = np.column_stack([tr.z[org + h] for h in c.horizons]) - base
            seqs.append(seq), heads.append(head), ys.append(y)
        if not seqs:
            raise ValueError("not enough history to fit the LSTM")
        seq, head, y = np.concatenate(seqs), np.concatenate(heads), np.concatenate(ys)
        if len(seq) > c.max_lstm_samples:
            keep = np.sort(rng.choice(len(seq), c.max_lstm_samples, replace=False))
            seq, head, y = seq[keep], head[keep], y[keep]
        # standardise (slot sin/cos stay as they are)
        s_mu = seq.reshape(-1, seq.shape[-1]).mean(axis=0)
        s_sd = seq.reshape(-1, seq.shape[-1]).std(axis=0) + 1e-6
        s_mu[3:], s_sd[3:] = 0.0, 1.0
        h_sd = head.std(axis=0) + 1e-6
        y_sd = float(y.std()) + 1e-9
        xs = torch.tensor((seq - s_mu) / s_sd, dtype=torch.float32)
        xh = torch.tensor(head / h_sd, dtype=torch.float32)
        yt = torch.tensor(y / y_sd, dtype=torch.float32)
        n_out = len(c.horizons)

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = torch.nn.LSTM(seq.shape[-1], c.hidden, batch_first=True)
                self.out = torch.nn.Linear(c.hidden + head.shape[1], n_out)

            def forward(self, a, b):
                _, (h, _) = self.lstm(a)
                return self.out(torch.cat([h[-1], b], dim=1))

        net = Net()
        opt = torch.optim.Adam(net.parameters(), lr=c.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs)
        n, bs = len(xs), 128
        for _epoch in range(c.epochs):
            perm = torch.randperm(n)
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                opt.zero_grad()
                loss = torch.nn.functional.l1_loss(net(xs[idx], xh[idx]), yt[idx])
                loss.backward()
                opt.step()
            sched.step()
        sd = {k: v.detach().numpy().astype(np.float64) for k, v in net.state_dict().items()}
        self.w = {
            "w_ih": sd["lstm.weight_ih_l0"],
            "w_hh": sd["lstm.weight_hh_l0"],
            "b": sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"],
            "w_out": sd["out.weight"],
            "b_out": sd["out.bias"],
            "s_mu": s_mu,
            "s_sd": s_sd,
            "h_sd": h_sd,
            "y_sd": np.array([y_sd]),
        }
        return self

    def forward(self, seq: np.ndarray, head: np.ndarray) -> np.ndarray:
        """Numpy LSTM forward pass (PyTorch gate order i, f, g, o)."""
        w = self.w
        x = (seq - w["s_mu"]) / w["s_sd"]
        n, steps, _ = x.shape
        hid = w["w_hh"].shape[1]
        h = np.zeros((n, hid))
        cell = np.zeros((n, hid))
        xw = x @ w["w_ih"].T + w["b"]  # (n, steps, 4H)
        w_hh_t = w["w_hh"].T
        for k in range(steps):
            g = xw[:, k] + h @ w_hh_t
            i_g = _sigmoid(g[:, :hid])
            f_g = _sigmoid(g[:, hid : 2 * hid])
            c_g = np.tanh(g[:, 2 * hid : 3 * hid])
            o_g = _sigmoid(g[:, 3 * hid :])
            cell = f_g * cell + i_g * c_g
            h = o_g * np.tanh(cell)
        out = np.hstack([h, head / w["h_sd"]]) @ w["w_out"].T + w["b_out"]
        return out * w["y_sd"][0]

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        seq, head, base = self._inputs(track, origins)
        out = np.empty((len(origins), len(self.cfg.horizons)))
        for i in range(0, len(origins), 4096):
            out[i : i + 4096] = self.forward(seq[i : i + 4096], head[i : i + 4096])
        return base + out

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}{k}": v for k, v in self.w.items()}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> LSTMMember:
        self.w = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        return self


class ProphetMember:
    """Prophet fitted on the (cross-series mean of the) normalised load; its mean forecast
    is exported as trend(t) + table[day of week, slot]."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.table: np.ndarray | None = None  # (7, day)
        self.trend = np.zeros(3)  # (absolute step of the reference, level there, slope per step)

    def min_origin(self) -> int:
        return 0

    def fit(self, tracks: list[Track], ends: list[int], step: pd.Timedelta, tz: str | None) -> ProphetMember:
        import logging as _logging

        import pandas as pd
        from prophet import Prophet

        for name in ("prophet", "cmdstanpy"):
            _logging.getLogger(name).setLevel(_logging.WARNING)
        c = self.cfg
        # cross-series mean of z per absolute step (one series for Prophet, however many meters)
        sums: dict[int, float] = {}
        counts: dict[int, int] = {}
        for tr, end in zip(tracks, ends, strict=True):
            for k in range(end):
                a = tr.abs0 + k
                sums[a] = sums.get(a, 0.0) + tr.z[k]
                counts[a] = counts.get(a, 0) + 1
        steps = np.array(sorted(sums))
        y = np.array([sums[a] / counts[a] for a in steps])
        ds_utc = pd.to_datetime(steps * step.value, utc=True)
        ds = (ds_utc.tz_convert(tz) if tz else ds_utc).tz_localize(None)
        model = Prophet(
            daily_seasonality=True,
            weekly_seasonality=True,
            yearly_seasonality=False,
            uncertainty_samples=0,
        )
        model.fit(pd.DataFrame({"ds": ds, "y": y}), algorithm="LBFGS")
        # seasonal table over one week of local slots, and the trend from the last fitted step
        day = c.day
        monday = (ds[-1].normalize() - pd.Timedelta(days=ds[-1].dayofweek)) + pd.Timedelta(days=7)
        week = pd.DataFrame({"ds": pd.date_range(monday, periods=7 * day, freq=step)})
        comp = model.predict(week)
        seasonal = (comp["yhat"] - comp["trend"]).to_numpy()
        self.table = seasonal.reshape(7, day)
        ref = pd.DataFrame({"ds": [ds[-1], ds[-1] + 1000 * step]})
        tr_vals = model.predict(ref)["trend"].to_numpy()
        slope = (tr_vals[1] - tr_vals[0]) / 1000.0 if c.prophet_trend else 0.0
        self.trend = np.array([float(steps[-1]), float(tr_vals[0]), float(slope)])
        self._model = model  # kept in memory for checks, never saved
        return self

    def value_at(self, track: Track, idx: np.ndarray) -> np.ndarray:
        ref, level, slope = self.trend
        return level + slope * (track.abs0 + idx - ref) + self.table[track.dow[idx], track.slot[idx]]

    def predict(self, track: Track, origins: np.ndarray) -> np.ndarray:
        t = np.asarray(origins, dtype=np.int64)
        return np.column_stack([self.value_at(track, t + h) for h in self.cfg.horizons])

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}table": self.table, f"{prefix}trend": self.trend}

    def load(self, arrays: dict[str, np.ndarray], prefix: str) -> ProphetMember:
        self.table, self.trend = arrays[f"{prefix}table"], arrays[f"{prefix}trend"]
        return self


# ---- ensemble weights and intervals --------------------------------------------------------


def fit_weights(preds: np.ndarray, target: np.ndarray, penalty: float = 1e3) -> np.ndarray:
    """Non-negative weights summing to one minimising squared error (NNLS with a penalty row).

    preds: (n, M); target: (n,)."""
    from scipy.optimize import nnls

    ok = np.isfinite(preds).all(axis=1) & np.isfinite(target)
    a = np.vstack([preds[ok], np.full((1, preds.shape[1]), penalty)])
    b = np.concatenate([target[ok], [penalty]])
    w, _ = nnls(a, b)
    return w / w.sum() if w.sum() > 0 else np.full(preds.shape[1], 1.0 / preds.shape[1])


def conformal_bounds(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Split-conformal bounds from absolute residuals: ±q, q the ceil((n+1)·level)/n
    empirical quantile of |residual| (symmetric: robust to a bias that changes sign between
    the calibration and the test period)."""
    r = np.sort(np.abs(residuals[np.isfinite(residuals)]))
    n = len(r)
    if n == 0:
        return float("nan"), float("nan")
    k = min(n - 1, int(np.ceil((n + 1) * level)) - 1)
    return -float(r[k]), float(r[k])


# ---- the model -------------------------------------------------------------------------------


@dataclass
class Forecast:
    """Forecasts at given origins: point (n, H) per member and ensemble, interval bounds."""

    horizons: list[int]
    members: dict[str, np.ndarray]
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class ForecastModel:
    cfg: Config
    lag: LagModel | None = None
    lstm: LSTMMember | None = None
    prophet: ProphetMember | None = None
    short: LagModel | None = None
    weights: np.ndarray | None = None  # (H, M) over cfg.members
    bounds: np.ndarray | None = None  # (H, 2) conformal residual quantiles (z units)
    short_bounds: np.ndarray | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    # -- fitting --------------------------------------------------------------------------
    def _fit_members(self, tracks, ends, step, tz) -> dict[str, Any]:
        c = self.cfg
        out: dict[str, Any] = {}
        for name in c.members:
            started = time.perf_counter()
            if name == "lag":
                out[name] = LagModel(c).fit(tracks, ends)
            elif name == "lstm":
                out[name] = LSTMMember(c).fit(tracks, ends)
            elif name == "prophet":
                out[name] = ProphetMember(c).fit(tracks, ends, step, tz)
            else:
                raise ValueError(f"unknown member {name!r}")
            self.timings[f"fit_{name}_s"] = (
                self.timings.get(f"fit_{name}_s", 0.0) + time.perf_counter() - started
            )
        started = time.perf_counter()
        out["short"] = LagModel(c, season=c.day).fit(tracks, ends)
        self.timings["fit_short_s"] = self.timings.get("fit_short_s", 0.0) + time.perf_counter() - started
        return out

    def fit(self, series: list[LoadSeries], val_steps: int, refit: bool = True) -> ForecastModel:
        """Fit on `series` (all of it is fit data): members on all but the last `val_steps`
        of each series, ensemble weights and conformal bounds on forecasts of those last
        steps, then (refit=True) the members again on everything.

        BLAS runs single-threaded here: the matrices are small and, on a shared 2-core
        machine, extra BLAS/OpenMP threads spin instead of helping."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            return self._fit(series, val_steps, refit)

    def _fit(self, series: list[LoadSeries], val_steps: int, refit: bool) -> ForecastModel:
        from gridtwin.forecast.evaluation import mape_per_horizon

        c = self.cfg
        step, tz = series[0].step, series[0].tz
        tracks = [make_track(s, c.max_h) for s in series]
        inner_ends = [len(t) - val_steps for t in tracks]
        members = self._fit_members(tracks, inner_ends, step, tz)
        # validation forecasts: every origin whose targets fall in the validation block
        preds: dict[str, list[np.ndarray]] = {m: [] for m in (*c.members, "short", "naive")}
        targets = []
        first = max(self._min_origin(members), 0)
        for tr, end in zip(tracks, inner_ends, strict=True):
            org = np.arange(max(end - 1, first), len(tr) - c.max_h)
            if len(org) == 0:
                continue
            for m in (*c.members, "short"):
                preds[m].append(members[m].predict(tr, org))
            preds["naive"].append(SeasonalNaive(c).predict(tr, org))
            targets.append(np.column_stack([tr.z[org + h] for h in c.horizons]))
        if not targets:
            raise ValueError("validation block too short for the horizons")
        y = np.concatenate(targets)
        p = {m: np.concatenate(v) for m, v in preds.items()}
        stack = np.stack([p[m] for m in c.members], axis=-1)  # (n, H, M)
        self.weights = np.array([fit_weights(stack[:, j], y[:, j]) for j in range(len(c.horizons))])
        ens = np.einsum("nhm,hm->nh", stack, self.weights)
        self.bounds = np.array(
            [conformal_bounds(y[:, j] - ens[:, j], c.level) for j in range(len(c.horizons))]
        )
        self.short_bounds = np.array(
            [conformal_bounds(y[:, j] - p["short"][:, j], c.level) for j in range(len(c.horizons))]
        )
        self.validation = {
            "origins": int(len(y)),
            "mape_per_horizon": {
                m: mape_per_horizon(y, v).tolist() for m, v in {**p, "ensemble": ens}.items()
            },
            "weights": self.weights.tolist(),
        }
        if refit:
            members = self._fit_members(tracks, [len(t) for t in tracks], step, tz)
        self.lag, self.lstm, self.prophet = members.get("lag"), members.get("lstm"), members.get("prophet")
        self.short = members["short"]
        return self

    def _min_origin(self, members: dict[str, Any] | None = None) -> int:
        ms = members or {"lag": self.lag, "lstm": self.lstm, "prophet": self.prophet}
        return max(ms[m].min_origin() for m in self.cfg.members if ms.get(m) is not None)

    @property
    def min_history(self) -> int:
        """Steps of history the full ensemble needs (the origin is the last of them)."""
        return self._min_origin() + 1

    @property
    def min_history_short(self) -> int:
        return self.short.min_origin() + 1

    # -- prediction -----------------------------------------------------------------------
    def member(self, name: str):
        return {"lag": self.lag, "lstm": self.lstm, "prophet": self.prophet, "short": self.short}[name]

    def predict(self, track: Track, origins: np.ndarray, short: bool = False) -> Forecast:
        """Forecasts (z units) from each origin; `short` uses the one-day lag model only."""
        origins = np.asarray(origins, dtype=np.int64)
        if short:
            point = self.short.predict(track, origins)
            return Forecast(
                self.cfg.horizons,
                {"short": point},
                point,
                point + self.short_bounds[:, 0],
                point + self.short_bounds[:, 1],
            )
        preds = {m: self.member(m).predict(track, origins) for m in self.cfg.members}
        preds["naive"] = SeasonalNaive(self.cfg).predict(track, origins)
        stack = np.stack([preds[m] for m in self.cfg.members], axis=-1)
        point = np.einsum("nhm,hm->nh", stack, self.weights)
        return Forecast(self.cfg.horizons, preds, point, point + self.bounds[:, 0], point + self.bounds[:, 1])

    # -- persistence (numpy only) ----------------------------------------------------------
    def save(self, folder: str | Path) -> dict[str, Path]:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "weights": self.weights,
            "bounds": self.bounds,
            "short_bounds": self.short_bounds,
        }
        for name in self.cfg.members:
            arrays.update(self.member(name).arrays(f"{name}__"))
        arrays.update(self.short.arrays("short__"))
        npz = folder / "load_forecast.npz"
        np.savez(npz, **arrays)
        meta = folder / "load_forecast.json"
        cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.cfg.__dict__.items()}
        meta.write_text(
            json.dumps({"config": cfg, "validation": self.validation, "timings": self.timings}, indent=1)
        )
        return {"weights": npz, "meta": meta}

    @classmethod
    def load(
        cls, folder: str | Path | None = None, npz: Path | None = None, meta: Path | None = None
    ) -> ForecastModel:
        if folder is not None:
            npz, meta = Path(folder) / "load_forecast.npz", Path(folder) / "load_forecast.json"
        info = json.loads(Path(meta).read_text())
        c = dict(info["config"])
        c["members"] = tuple(c["members"])
        cfg = Config(**c)
        with np.load(npz) as z:
            arrays = {k: z[k] for k in z.files}
        model = cls(
            cfg, weights=arrays["weights"], bounds=arrays["bounds"], short_bounds=arrays["short_bounds"]
        )
        model.validation, model.timings = info.get("validation", {}), info.get("timings", {})
        if "lag" in cfg.members:
            model.lag = LagModel(cfg).load(arrays, "lag__")
        if "lstm" in cfg.members:
            model.lstm = LSTMMember(cfg).load(arrays, "lstm__")
        if "prophet" in cfg.members:
            model.prophet = ProphetMember(cfg).load(arrays, "prophet__")
        model.short = LagModel(cfg, season=cfg.day).load(arrays, "short__")
        return model


def default_config(step: pd.Timedelta, max_horizon: pd.Timedelta | str = "1D", **kw: Any) -> Config:
    """A config for a resolution: horizons every step up to `max_horizon` (≤ 1 day)."""
    import pandas as pd

    from gridtwin.forecast.data import steps_per_day

    day = steps_per_day(step)
    n_h = int(pd.Timedelta(max_horizon) / pd.Timedelta(step))
    return Config(
        step_minutes=pd.Timedelta(step).total_seconds() / 60.0,
        horizons=list(range(1, n_h + 1)),
        day=day,
        season=7 * day,
        **kw,
    )
