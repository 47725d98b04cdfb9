"""Training-time helpers: true feeder states and head-end feature rows from the simulator tables.

Not used by serving (pandas + the simulator's tables). A "state" is one 15-minute block:

* true node powers: every customer's 15-min mean P/Q (`load_series`, the simulator's true
  values) on its node and phase;
* source voltage: set so the power flow's busbar voltage equals the transformer meter's
  mean measured busbar voltage over the block;
* the head-end input the served model would see: the transformer meter's feature row at the
  middle of the block (one reading, computed by the serving feature code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gridtwin.features.frame import features_from_dataframe
from gridtwin.netopt.network import NetworkModel
from gridtwin.netopt.powerflow import solve
from training.runcache import cached_frame

BLOCK = pd.Timedelta(minutes=15)
MID = pd.Timedelta(minutes=7)


@dataclass
class States:
    times: pd.DatetimeIndex  # block starts (S,)
    s_node: np.ndarray  # (n, 3, S) complex VA
    e_pu: np.ndarray  # (S,)
    features: pd.DataFrame  # (S, meter_id, timestamp, 135 features) head-end row per block


def network_features(readings: pd.DataFrame, source: Path | None = None) -> pd.DataFrame:
    """Serving features of the transformer and feeder-head meters (customer rows dropped).

    `source`: the readings' file; the features are then shared with the run's other network
    models (training.runcache) instead of computed again."""

    def compute() -> pd.DataFrame:
        keep = ~readings.meter_id.str.contains("-C", regex=False)
        return features_from_dataframe(readings[keep].reset_index(drop=True))

    if source is None:
        return compute()
    stat = Path(source).stat()
    return cached_frame(
        f"network_features:{Path(source).resolve()}:{stat.st_mtime_ns}:{stat.st_size}", compute
    )


def true_states(
    model: NetworkModel,
    feeder_dir: Path,
    feats: pd.DataFrame,
    readings: pd.DataFrame,
    max_states: int | None = None,
    rng: np.random.Generator | None = None,
) -> States:
    """Feeder states of every 15-min block with a transformer reading at its middle."""
    cust = pd.read_parquet(feeder_dir / "customers.parquet")
    ls = pd.read_parquet(feeder_dir / "load_series.parquet")
    ls = ls[ls.kind == "customer"]
    p = ls.pivot(index="timestamp", columns="meter_id", values="active_power_w")
    q = ls.pivot(index="timestamp", columns="meter_id", values="reactive_power_var")
    tr_id = str(model.meter_ids[model.meter_kind == "transformer"][0])
    tr_feat = feats[feats.meter_id == tr_id].set_index("timestamp")
    tr_read = readings[readings.meter_id == tr_id].set_index("timestamp")
    times = p.index[(p.index + MID).isin(tr_feat.index)]
    if max_states is not None and len(times) > max_states:
        rng = rng or np.random.default_rng(0)
        times = times[np.sort(rng.choice(len(times), max_states, replace=False))]
    n = model.n_nodes
    s_node = np.zeros((n, 3, len(times)), complex)
    s_cust = (p.loc[times] + 1j * q.loc[times]).to_numpy()  # (S, customers)
    cols = list(p.columns)
    c = cust.set_index("meter_id").loc[cols]
    for j, (node, ph) in enumerate(zip(c.node, c.phase, strict=True)):
        s_node[int(node), "abc".index(ph)] += s_cust[:, j]
    # busbar voltage: mean of the transformer meter's phase voltages over the block
    vcols = ["voltage_a", "voltage_b", "voltage_c"]
    vb = tr_read[vcols].mean(axis=1).resample(BLOCK).mean().reindex(times).to_numpy() / model.un
    e = vb.copy()
    for _ in range(4):
        flow = solve(model, s_node, e, tol_pu=1e-6)
        e = e + (vb - np.abs(flow.v[0]).mean(axis=0) / model.un)
    rows = tr_feat.loc[times + MID].reset_index()
    return States(times=times, s_node=s_node, e_pu=e, features=rows)


def model_for_dataset(feeder_dir: Path) -> NetworkModel:
    """The `NetworkModel` of a dataset's feeder, with the dataset's own customers (phases,
    annual energy) and meters, so allocation and catalogue match the simulated data."""
    from gridsim.network import GridSettings, build_feeder

    meters = pd.read_parquet(feeder_dir / "meters.parquet")
    settings = GridSettings(float(meters.nominal_voltage.iloc[0]), float(meters.nominal_frequency.iloc[0]))
    feeder = build_feeder(feeder_dir.name, settings)
    feeder.customers = pd.read_parquet(feeder_dir / "customers.parquet")
    feeder.meters = meters
    from gridtwin.netopt.network import build_network_model

    return build_network_model(feeder)
