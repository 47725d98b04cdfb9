"""Champion against candidate on the same held-out data, each answering with its serving code
(`training.lifecycle.served`): the comparators `gridtwin retrain` judges a candidate with.

Which models have one, and why the others do not:

* voltage_anomaly: F1 over normal and IEEE 1159 event readings, with a false-alarm limit;
* frequency_stability, phase_imbalance, voltage_sag: the serving evaluation's own scorers
  (training/serving_eval/scorers) on the held-out world — the 5-s-ahead frequency MAE, the
  open-phase cause's balanced accuracy, the sag depth MAE;
* the eight models that keep per-meter state in Redis (`prepare`: load_forecast,
  overload_risk, equipment_failure, demand_response, power_flow_optimization, reactive_power,
  load_balancing, optimal_dispatch) answer as served only through the mesh, so an in-process
  comparison would judge a different model than the one served;
* harmonic_analysis, power_quality_index, energy_loss and grid_stability have no held-out truth
  the world can give in-process (their serving-evaluation rows are "not assessable" or need
  the mesh), so a candidate of theirs cannot be judged and is never offered.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gridtwin.registry import RegistryEntry
from training.heldout import HeldOutStream, generate
from training.lifecycle.served import served_frame
from training.serving_eval.scorers import frequency_stability, phase_imbalance, voltage_sag
from training.serving_eval.scorers.voltage_anomaly import score
from training.serving_eval.verdict import Row

HELDOUT_SEED = 20260


@dataclass(frozen=True)
class Comparison:
    """Champion and candidate on the same held-out data: the metric, both values, the verdict."""

    metric: str
    champion: float
    candidate: float
    better: bool
    detail: str


def compare_voltage_anomaly(champion: RegistryEntry, candidate: RegistryEntry) -> Comparison:
    """F1 over every labelled anomaly of the held-out world (IEEE 1159 events and the neutral
    shift inside the EN 50160 band; 1-min cadence, one day of 4 meters) must be higher; the
    false-alarm rate must not regress: at most the champion's plus two standard errors of a
    rate on that many normal readings (or 1 %, the goal).

    The F1 over IEEE 1159 events alone is no comparison: the standards' rules define those
    events and flag them all, so every candidate scores the same there (1.0 on this day); the
    forest's part, and so the difference between two fits, is the anomalies inside the band.
    """
    stream = generate(60.0, n_meters=4, seed=HELDOUT_SEED, duration_s=86400.0)

    ours = score(served_frame("voltage_anomaly", champion, stream.readings), stream)["model"]
    theirs = score(served_frame("voltage_anomaly", candidate, stream.readings), stream)["model"]
    normal = int((stream.labels["category"] == "normal").sum())
    rate = ours["false_alarm_rate"]
    fa_limit = max(rate + 2 * math.sqrt(rate * (1 - rate) / max(normal, 1)), 0.01)
    better = theirs["all_f1"] > ours["all_f1"] and theirs["false_alarm_rate"] <= fa_limit
    detail = (
        f"held-out F1 (every labelled anomaly) {theirs['all_f1']:.4f} vs champion {ours['all_f1']:.4f}; "
        f"false alarms {theirs['false_alarm_rate']:.4f} vs {ours['false_alarm_rate']:.4f} (limit {fa_limit:.4f})"
    )
    return Comparison("all_f1", ours["all_f1"], theirs["all_f1"], better, detail)


def _scored(
    name: str,
    scorer: Callable[..., list[Row]],
    stream: Callable[[], HeldOutStream],
    cadence: str,
) -> Callable[[RegistryEntry, RegistryEntry], Comparison]:
    """A comparator from a serving-evaluation scorer: its first row's metric, strictly better
    in the metric's direction (the naive baseline is reported beside both)."""

    def compare(champion: RegistryEntry, candidate: RegistryEntry) -> Comparison:
        world = stream()
        ours = scorer(served_frame(name, champion, world.readings), world, cadence)[0]
        theirs = scorer(served_frame(name, candidate, world.readings), world, cadence)[0]
        if ours.served is None or theirs.served is None:
            return Comparison(ours.metric, math.nan, math.nan, False, f"not assessable: {theirs.note}")
        higher = ours.better == "higher"
        better = theirs.served > ours.served if higher else theirs.served < ours.served
        detail = (
            f"held-out {ours.metric} {theirs.served:.4g} vs champion {ours.served:.4g} "
            f"({'higher' if higher else 'lower'} is better; {ours.baseline_name} {ours.baseline:.4g}, "
            f"n = {theirs.n})"
        )
        return Comparison(ours.metric, float(ours.served), float(theirs.served), better, detail)

    return compare


COMPARATORS: dict[str, Callable[[RegistryEntry, RegistryEntry], Comparison]] = {
    "voltage_anomaly": compare_voltage_anomaly,
    # 1-s world: the only cadence with a reading 5 s ahead; one hour of 4 meters.
    "frequency_stability": _scored(
        "frequency_stability",
        frequency_stability.rows,
        lambda: generate(1.0, n_meters=4, seed=HELDOUT_SEED, duration_s=3600.0),
        "1s",
    ),
    "phase_imbalance": _scored(
        "phase_imbalance",
        phase_imbalance.rows,
        lambda: generate(60.0, n_meters=4, seed=HELDOUT_SEED, duration_s=86400.0),
        "1min",
    ),
    "voltage_sag": _scored(
        "voltage_sag",
        voltage_sag.rows,
        lambda: generate(60.0, n_meters=4, seed=HELDOUT_SEED, duration_s=86400.0),
        "1min",
    ),
}
