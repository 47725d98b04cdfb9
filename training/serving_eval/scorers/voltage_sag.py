"""voltage_sag: depth and duration of sags in progress, and the next-hour sag probability.

Truth from the world's injected events (sag 0.6 pu on one phase, two-phase sag 0.7 pu,
interruption < 0.05 pu): the retained voltage, the event's duration and its start time.

* depth: MAE (pu) of ``expected_sag_depth_pu`` on event readings the model says are in
  progress; baseline: the reading's own lowest phase (persistence of the depth seen so far);
* duration: mean abs log10(predicted / true) (decades) on the same readings; baseline: "it lasts as
  long as it has lasted so far" (time since the event's first reading plus one cadence). The
  baseline sees what the meter sees: the first reading inside the event, not the event's true
  start, which can lie up to a cadence earlier and is known only to the world;
* probability: ROC AUC of ``sag_probability`` on normal readings for "a sag starts within the
  next hour"; baseline: no skill (0.5). The world places its sags at random times with no
  precursor, so there is nothing to predict: the figure is reported, and judged "not
  assessable" (a gain or a loss here is chance).

Cause: not assessable — the world's events carry no fault / motor-start / energising signature.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.heldout import HeldOutStream
from training.serving_eval.scorers.common import answered, roc_auc, voltage_pu
from training.serving_eval.verdict import NOT_ASSESSABLE, Row, not_assessable

MODEL = "voltage_sag"
SAG_KINDS = ("sag", "two_phase_sag", "interruption")


def duration_so_far_s(
    ts_s: np.ndarray, meter: np.ndarray, event_start_s: np.ndarray, in_event: np.ndarray, cadence_s: float
) -> np.ndarray:
    """The naive duration estimate of each event reading: the time since the first reading of
    the same event at the same meter, plus one cadence (s); NaN outside events. The event's true
    start only identifies the event: a meter cannot know it."""
    out = np.full(len(ts_s), np.nan)
    key = pd.DataFrame({"meter": meter, "start": event_start_s, "ts": ts_s})[in_event]
    first = key.groupby(["meter", "start"])["ts"].transform("min").to_numpy(float)
    out[in_event] = ts_s[in_event] - first + cadence_s
    return out


def _onset_rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    lab = stream.labels
    ts = answers["ts_s"].to_numpy(float)
    starts = lab.loc[lab["label"].isin(SAG_KINDS)].groupby("meter_id")["event_start_s"].unique()
    soon = np.zeros(len(ts), bool)
    meters = answers["meter_id"].to_numpy()
    for m, s in starts.items():
        sel = meters == m
        d = np.asarray(s, float)[None, :] - ts[sel, None]
        soon[sel] = ((d > 0) & (d <= 3600)).any(axis=1)
    ok = answered(answers, MODEL) & (lab["label"].to_numpy() == "normal")
    prob = answers[f"{MODEL}.sag_probability"].to_numpy(float)
    metric = "ROC AUC: a sag starts within the next hour"
    if not soon[ok].any():
        return [not_assessable(MODEL, cadence, metric, "no sag starts within an hour of a normal reading")]
    return [Row(MODEL, cadence, metric, roc_auc(soon[ok], prob[ok]), 0.5, "no skill", "beat the baseline",
                "higher", None, int(ok.sum()), f"{int(soon[ok].sum())} readings within an hour before a sag; the "
                "world's sags start at random times (no precursor), so any difference from 0.5 is chance",
                verdict=NOT_ASSESSABLE)]  # fmt: skip


def rows(answers: pd.DataFrame, stream: HeldOutStream, cadence: str) -> list[Row]:
    lab = stream.labels
    ev = lab["label"].isin(SAG_KINDS).to_numpy()
    live = ev & answered(answers, MODEL) & answers[f"{MODEL}.sag_in_progress"].to_numpy(bool)
    depth = answers[f"{MODEL}.expected_sag_depth_pu"].to_numpy(float)
    dur = answers[f"{MODEL}.expected_duration_s"].to_numpy(float)
    live &= np.isfinite(depth) & np.isfinite(dur) & (dur > 0)
    out = []
    if not live.any():
        out.append(
            not_assessable(MODEL, cadence, "sag depth MAE, pu", "no sag reading answered as in progress")
        )
    else:
        true_depth = lab["event_retained_pu"].to_numpy(float)[live]
        seen = voltage_pu(stream.readings).min(axis=1)[live]
        true_dur = (lab["event_end_s"] - lab["event_start_s"]).to_numpy(float)[live]
        so_far = duration_so_far_s(answers["ts_s"].to_numpy(float), answers["meter_id"].to_numpy(),
                                   lab["event_start_s"].to_numpy(float), ev, stream.cadence_s)[live]  # fmt: skip
        n = int(live.sum())
        out += [
            Row(MODEL, cadence, "sag depth MAE, pu", float(np.mean(np.abs(depth[live] - true_depth))),
                float(np.mean(np.abs(seen - true_depth))), "lowest phase of the reading", "beat the baseline",
                "lower", None, n),
            Row(MODEL, cadence, "sag duration error, mean abs log10 ratio (decades)",
                float(np.mean(np.abs(np.log10(dur[live] / true_dur)))),
                float(np.mean(np.abs(np.log10(so_far / true_dur)))), "duration so far", "beat the baseline",
                "lower", None, n),
        ]  # fmt: skip
    out += _onset_rows(answers, stream, cadence)
    out.append(
        not_assessable(MODEL, cadence, "cause accuracy", "the world's sags carry no fault / motor-start / "
                       "transformer-energising signature (no cause truth)")
    )  # fmt: skip
    return out
