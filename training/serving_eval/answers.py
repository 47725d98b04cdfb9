"""Readings to protos, protos through the gateway, answers to one flat table.

Every model's answer becomes columns ``<model>.<field>`` (``<model>.info.status`` …), forecast
points ``load_forecast.h<minutes>.load_w`` (and ``lower_w``/``upper_w``), nested messages
``<model>.<message>.<field>``, repeated strings joined with "," and other repeated fields as
``<model>.<field>.count`` — so scorers are pure functions on a DataFrame.
"""

from __future__ import annotations

from typing import Any

import grpc
import pandas as pd
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from gridtwin.v1 import assessment_pb2, gateway_pb2_grpc, reading_pb2

_PH = ("a", "b", "c")
#: The same for every answer of a model (the registry says them); not kept per reading.
_SKIP = frozenset({"model_name", "model_version"})
#: Names of the Assessment fields that hold a model's answer (messages with a ModelInfo).
MODEL_FIELDS: tuple[str, ...] = tuple(
    f.name
    for f in assessment_pb2.Assessment.DESCRIPTOR.fields
    if f.message_type is not None and "info" in f.message_type.fields_by_name
)


def to_protos(df: pd.DataFrame) -> list[reading_pb2.Reading]:
    """DataFrame rows (the feature pipeline's reading columns) → ``Reading`` messages."""
    ns = pd.to_datetime(df["timestamp"], utc=True).astype("int64").to_numpy()
    cols = {
        name: df[[f"{name}_{p}" for p in _PH]].to_numpy(float)
        for name in ("voltage", "current", "active_power", "reactive_power")
    }
    f = df["frequency"].to_numpy(float)
    vn = df["nominal_voltage"].to_numpy(float)
    fn = df["nominal_frequency"].to_numpy(float)
    meters = df["meter_id"].to_numpy()
    out = []
    for k in range(len(df)):
        r = reading_pb2.Reading(
            meter_id=str(meters[k]), frequency=f[k], nominal_voltage=vn[k], nominal_frequency=fn[k]
        )
        r.timestamp.seconds, r.timestamp.nanos = divmod(int(ns[k]), 10**9)
        for name, arr in cols.items():
            pv = getattr(r, name)
            pv.a, pv.b, pv.c = arr[k]
        out.append(r)
    return out


def _repeated(fd: FieldDescriptor) -> bool:
    return bool(fd.is_repeated)


def flatten_message(prefix: str, msg: Message, row: dict[str, Any]) -> None:
    """Scalar fields of ``msg`` (recursively) into ``row`` under ``prefix.``."""
    for fd in msg.DESCRIPTOR.fields:
        if fd.name in _SKIP:
            continue
        value = getattr(msg, fd.name)
        key = f"{prefix}.{fd.name}"
        if fd.name == "forecasted_load":
            for p in value:
                for part in ("load_w", "lower_w", "upper_w"):
                    row[f"{prefix}.h{p.horizon_minutes}.{part}"] = getattr(p, part)
        elif _repeated(fd):
            if fd.type == FieldDescriptor.TYPE_STRING:
                row[key] = ",".join(value)
            else:
                row[f"{key}.count"] = len(value)
        elif fd.message_type is not None:
            flatten_message(key, value, row)
        else:
            row[key] = value


def flatten(a: assessment_pb2.Assessment) -> dict[str, Any]:
    """One answer → one flat row (all sixteen models)."""
    row: dict[str, Any] = {
        "meter_id": a.meter_id,
        "ts_s": a.timestamp.seconds + a.timestamp.nanos * 1e-9,
        "status": a.status.code,
    }
    for name in MODEL_FIELDS:
        flatten_message(name, getattr(a, name), row)
    return row


def assess(address: str, readings: list[reading_pb2.Reading], batch: int = 250) -> pd.DataFrame:
    """Every model's answer for every reading, sent in order through ``AssessBatch``.

    ``batch_index`` says which call a reading went in: state-keeping models (load_forecast)
    answer every reading of a meter in one call from the state after the whole call.
    """
    rows: list[dict[str, Any]] = []
    with grpc.insecure_channel(address) as channel:
        stub = gateway_pb2_grpc.GridTwinStub(channel)
        for b, i in enumerate(range(0, len(readings), batch)):
            part = readings[i : i + batch]
            res = stub.AssessBatch(reading_pb2.ReadingBatch(readings=part), timeout=120)
            for a in res.assessments:
                row = flatten(a)
                row["batch_index"] = b
                rows.append(row)
    return pd.DataFrame(rows)
