"""`gridtwin forecast train | predict | benchmark`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = "var/forecast_model"
MIN_STEP = pd.Timedelta(minutes=15)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("forecast", help="load forecasting: train on a CSV, predict, benchmark")
    sub = p.add_subparsers(dest="forecast_action", required=True)

    t = sub.add_parser("train", help="fit the ensemble on a CSV (timestamp + load) and report held-out MAPE")
    t.add_argument("--csv", required=True)
    t.add_argument("--timestamp-col")
    t.add_argument("--load-col")
    t.add_argument("--tz", help="zone of naive local timestamps (e.g. Europe/London); default UTC")
    t.add_argument("--out", default=DEFAULT_MODEL_DIR, help=f"model folder (default {DEFAULT_MODEL_DIR})")
    t.add_argument("--members", default="lag,lstm,prophet")
    t.add_argument("--epochs", type=int, default=30)
    t.set_defaults(handler=cmd_train)

    r = sub.add_parser("predict", help="forecast from the end of a recent history CSV")
    r.add_argument("--model", default=DEFAULT_MODEL_DIR)
    r.add_argument("--csv", required=True, help="recent history (at least 8 days for the full ensemble)")
    r.add_argument("--timestamp-col")
    r.add_argument("--load-col")
    r.add_argument("--tz")
    r.add_argument("--horizon", nargs="*", default=["15min", "1h", "24h"], help="e.g. 15min 1h 24h")
    r.add_argument("--output", help="write the forecast as JSON here")
    r.set_defaults(handler=cmd_predict)

    b = sub.add_parser("benchmark", help="Taylor protocol on England & Wales demand")
    b.add_argument("--out", default=str(ROOT / "docs" / "forecast_benchmark.json"))
    b.add_argument("--members", default="lag,lstm,prophet")
    b.set_defaults(handler=cmd_benchmark)

    g = sub.add_parser(
        "long", help="several years of hourly demand: holidays, yearly seasonality, dirty data"
    )
    g.add_argument("--out", default=str(ROOT / "docs" / "forecast_long.json"))
    g.add_argument("--country", default="DE", help="holiday calendar (`holidays` country code)")
    g.add_argument("--region", default="", help="holiday subdivision, e.g. BY")
    g.add_argument("--years", type=int, default=6)
    g.set_defaults(handler=cmd_long)


def _load(args):
    from training.forecast.data import load_csv

    s = load_csv(args.csv, timestamp_col=args.timestamp_col, load_col=args.load_col, tz=args.tz)
    if s.step < MIN_STEP:
        # horizons start at 15 min: finer data are averaged to 15 min
        s = s.resample(MIN_STEP)
    return s


def cmd_train(args) -> int:
    from gridtwin.forecast.persistence import save
    from training.forecast.ensemble import default_config, fit_forecaster
    from training.forecast.evaluation import rolling_origin

    try:
        s = _load(args)
    except (OSError, ValueError) as exc:
        print(f"forecast train: {exc}", file=sys.stderr)
        return 2
    cfg = default_config(s.step, members=tuple(args.members.split(",")), epochs=args.epochs)
    n = len(s)
    hold = int(round(n * 0.15))
    need = 7 * cfg.day + cfg.day + cfg.max_h
    if n - 2 * hold < need + cfg.max_h:
        print(
            f"forecast train: {n} steps of {s.step} are too few (need about {need + 2 * hold + cfg.max_h})",
            file=sys.stderr,
        )
        return 2
    print(
        f"[forecast] {n} steps at {s.step} ({s.filled.sum()} filled), fit {n - hold}, test {hold}", flush=True
    )
    started = time.perf_counter()
    model = fit_forecaster(cfg, [s.slice(0, n - hold)], val_steps=hold)
    res = rolling_origin(model, s, n - hold)
    out = Path(args.out)
    save(model, out)
    summary = {
        "csv": str(args.csv),
        "step_minutes": cfg.step_minutes,
        "fit_seconds": round(time.perf_counter() - started, 1),
        **res.summary(),
        "mape_per_horizon_pct": {m: [round(float(x), 3) for x in v] for m, v in res.mape.items()},
    }
    (out / "evaluation.json").write_text(json.dumps(summary, indent=1))
    print(f"[forecast] test (last 15 %, every origin, no refit): interval coverage {res.coverage:.3f}")
    for m, v in res.mape.items():
        print(f"  {m:9s} mean MAPE {np.nanmean(v):6.2f} %   h1 {v[0]:6.2f} %")
    print(f"[forecast] model written to {out}")
    return 0


def _horizon_steps(text: str, step_minutes: float) -> int:
    minutes = pd.Timedelta(text).total_seconds() / 60
    k = minutes / step_minutes
    if abs(k - round(k)) > 1e-9 or k < 1:
        raise ValueError(f"horizon {text} is not a whole number of {step_minutes:g}-min steps")
    return int(round(k))


def cmd_predict(args) -> int:
    from gridtwin.forecast.persistence import load
    from training.forecast.data import make_track

    try:
        model = load(args.model)
        s = _load(args)
    except (OSError, ValueError, KeyError) as exc:
        print(f"forecast predict: {exc}", file=sys.stderr)
        return 2
    cfg = model.cfg
    if abs(s.step.total_seconds() / 60 - cfg.step_minutes) > 1e-9:
        print(
            f"forecast predict: history step {s.step} != model step {cfg.step_minutes} min", file=sys.stderr
        )
        return 2
    try:
        steps = [_horizon_steps(h, cfg.step_minutes) for h in args.horizon]
    except ValueError as exc:
        print(f"forecast predict: {exc}", file=sys.stderr)
        return 2
    bad = [h for h in steps if h not in cfg.horizons]
    if bad:
        print(f"forecast predict: horizons beyond the model's {cfg.max_h} steps: {bad}", file=sys.stderr)
        return 2
    short = len(s) < model.min_history
    if len(s) < model.min_history_short:
        print(
            f"forecast predict: {len(s)} steps of history, need at least {model.min_history_short}",
            file=sys.stderr,
        )
        return 2
    track = make_track(s, cfg.max_h, cfg=cfg)
    fc = model.predict(track, np.array([len(s) - 1]), short=short)
    origin_end = s.index[-1] + s.step
    rows = []
    for h in steps:
        j = cfg.horizons.index(h)
        rows.append(
            {
                "horizon_minutes": h * cfg.step_minutes,
                "target_start_utc": str(origin_end + (h - 1) * s.step),
                "load": float(fc.point[0, j] * track.scale),
                "lower": float(fc.lower[0, j] * track.scale),
                "upper": float(fc.upper[0, j] * track.scale),
            }
        )
    result = {
        "model": "short one-day lag model" if short else "ensemble",
        "confidence_level": cfg.level,
        "forecast": rows,
    }
    print(f"forecast from {s.index[-1]} ({result['model']}, {cfg.level:.0%} interval):")
    for r in rows:
        print(f"  +{r['horizon_minutes']:7.0f} min  {r['load']:12.2f}  [{r['lower']:.2f}, {r['upper']:.2f}]")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=1))
    return 0


def cmd_benchmark(args) -> int:
    from training.forecast.benchmark import run, taylor_config

    r = run(taylor_config(members=tuple(args.members.split(","))), out=args.out)
    print(f"Taylor protocol, England & Wales: {r['n_origins']} origins, horizons 1-48 half-hours")
    print(f"{'model':10s} {'mean MAPE 1-48':>15s} {'h1 MAPE':>9s}")
    for m in r["mean_mape_pct"]:
        label = "naive (weekly seasonal)" if m == "naive" else m
        print(f"{label:10s} {r['mean_mape_pct'][m]:14.3f}% {r['h1_mape_pct'][m]:8.3f}%")
    print(
        f"interval coverage on test: {r['interval']['coverage_on_test']:.3f} (nominal {r['interval']['level']})"
    )
    print(
        f"goals: mean <= 1.5 % {'met' if r['goals_met']['mean_mape_pct'] else 'NOT met'}; "
        f"h1 <= 0.5 % {'met' if r['goals_met']['h1_mape_pct'] else 'NOT met'}; {r['timings_s']['total']:.0f} s"
    )
    print(f"written to {args.out}")
    return 0


def cmd_long(args) -> int:
    from training.forecast.long import run

    started = time.perf_counter()
    try:
        r = run(country=args.country, region=args.region, years=args.years)
    except ValueError as exc:  # an unknown holiday calendar
        print(f"forecast long: {exc}", file=sys.stderr)
        return 2
    r["total_seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(r, indent=1, default=str))
    for res in r["results"]:
        print(f"{res['series']}: {res['points']} hourly points, fit {res['fit_seconds']} s, test = last year")
        print(f"  {'model':12s} {'mean MAPE 1-24 h':>17s} {'h1':>7s} {'h24':>7s}")
        for m, v in res["mean_mape_pct"].items():
            print(f"  {m:12s} {v:16.2f}% {res['h1_mape_pct'][m]:6.2f}% {res['h24_mape_pct'][m]:6.2f}%")
        print(f"  goals: {res['goals']}")
    print(f"written to {args.out} ({r['total_seconds']} s)")
    return 0
