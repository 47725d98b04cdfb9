"""Tables derived once per `gridtwin train` run and shared by its models (training.pipeline.run).

Several models compute the same serving features of the same simulator readings (the three
network models each compute the head-end meters' features of the training feeder, two of them
of the other feeder too: 5 computations of 2 tables, a third of their training time on the
full profile). Within one run the first model computes a table and writes it to the run's
cache folder (`$TRAIN_RUN_CACHE`, set by the pipeline, removed when the run ends); the others,
in this process or another worker, read it. A lock per table makes a second worker wait for
the first instead of computing it too. Outside a run (no `$TRAIN_RUN_CACHE`: tests, retrain)
nothing is cached, so a table never outlives the code and data it came from.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

CACHE_ENV = "TRAIN_RUN_CACHE"


def cached_frame(key: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """`compute()`, or the table an earlier model of this run computed under the same `key`
    (which must name everything the table depends on: the input file and the function)."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        return compute()
    folder = Path(root)
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(key.encode()).hexdigest()[:20]
    path = folder / f"{name}.parquet"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pd.read_parquet(path)
        frame = compute()
        tmp = folder / f"{name}.partial"
        frame.to_parquet(tmp)
        os.replace(tmp, path)
        return frame
