"""Saving and loading a fitted forecaster: numpy arrays, a JSON header and the LSTM's ONNX graph.

Files (in one folder, or registered as the artifacts ``weights``, ``meta`` and ``lstm``):
``load_forecast.npz`` (ridge coefficients, Prophet's tables, the LSTM's scaling, ensemble
weights and bounds), ``load_forecast.json`` (config, validation scores, timings) and
``load_forecast_lstm.onnx`` (only when the ensemble has an LSTM member).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gridtwin.forecast.config import Config
from gridtwin.forecast.ensemble import ForecastModel
from gridtwin.forecast.members import LagModel, LSTMMember, ProphetMember

NPZ, META, LSTM_ONNX = "load_forecast.npz", "load_forecast.json", "load_forecast_lstm.onnx"


def save(model: ForecastModel, folder: str | Path) -> dict[str, Path]:
    """Write the model into `folder`; returns the artifacts by name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"weights": model.weights, "bounds": model.bounds, "short_bounds": model.short_bounds}
    for name in model.cfg.members:
        arrays.update(model.member(name).arrays(f"{name}__"))
    arrays.update(model.short.arrays("short__"))
    files = {"weights": folder / NPZ, "meta": folder / META}
    np.savez(files["weights"], **arrays)
    cfg = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.cfg.__dict__.items()}
    header = {"config": cfg, "validation": model.validation, "timings": model.timings}
    files["meta"].write_text(json.dumps(header, indent=1))
    if model.lstm is not None:
        files["lstm"] = folder / LSTM_ONNX
        files["lstm"].write_bytes(model.lstm.onnx)
    return files


def load(
    folder: str | Path | None = None,
    npz: Path | None = None,
    meta: Path | None = None,
    lstm: Path | None = None,
) -> ForecastModel:
    """Read a model saved by :func:`save` (from its folder, or from the three files)."""
    if folder is not None:
        npz, meta, lstm = (Path(folder) / name for name in (NPZ, META, LSTM_ONNX))
    info = json.loads(Path(meta).read_text())
    c = dict(info["config"])
    c["members"] = tuple(c["members"])
    cfg = Config(**c)
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    model = ForecastModel(
        cfg, weights=arrays["weights"], bounds=arrays["bounds"], short_bounds=arrays["short_bounds"]
    )
    model.validation, model.timings = info.get("validation", {}), info.get("timings", {})
    if "lag" in cfg.members:
        model.lag = LagModel(cfg).load(arrays, "lag__")
    if "lstm" in cfg.members:
        model.lstm = LSTMMember(cfg).load(arrays, "lstm__", Path(lstm).read_bytes())
    if "prophet" in cfg.members:
        model.prophet = ProphetMember(cfg).load(arrays, "prophet__")
    model.short = LagModel(cfg, season=cfg.day).load(arrays, "short__")
    return model
