"""Scorers of the held-out evaluation: pure functions on (answers, truth) that can fail.

Answers are built as the runner builds them (flattened Assessment messages), filled with
perfect, naive or wrong values, so each test shows a figure moving with what is served.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridtwin.v1 import assessment_pb2
from training.heldout import HeldOutStream, generate
from training.serving_eval.answers import flatten
from training.serving_eval.runner import score_all
from training.serving_eval.scorers import (
    decisions,
    load_forecast,
    overload_risk,
    phase_imbalance,
    reactive_power,
    voltage_anomaly,
    voltage_sag,
)
from training.serving_eval.scorers.common import future_index, roc_auc
from training.serving_eval.verdict import MET, NOT_ASSESSABLE, NOT_MET, Row, judge


def blank_answers(stream: HeldOutStream, batch: int = 1) -> pd.DataFrame:
    """One OK answer per reading with every model's fields at their defaults."""
    r = stream.readings
    ts = pd.to_datetime(r["timestamp"], utc=True).astype("int64").to_numpy() / 1e9
    rows = []
    for k, (m, t) in enumerate(zip(r["meter_id"], ts, strict=True)):
        row = flatten(assessment_pb2.Assessment(meter_id=m))
        row["ts_s"], row["batch_index"] = t, k // batch
        rows.append(row)
    a = pd.DataFrame(rows)
    for col in [c for c in a.columns if c.endswith(".info.status")]:
        a[col] = assessment_pb2.OK
    return a


@pytest.fixture(scope="module")
def minute() -> HeldOutStream:
    return generate(60.0, n_meters=2, seed=11, duration_s=86400.0)


@pytest.fixture(scope="module")
def minute_off_grid() -> HeldOutStream:
    """Two days of 1-min readings moved 30 s off the 15-min grid: every reading leaves its
    interval in progress."""
    s = generate(60.0, n_meters=2, seed=11, duration_s=2 * 86400.0)
    readings = s.readings.assign(
        timestamp=pd.to_datetime(s.readings["timestamp"], utc=True) + pd.Timedelta("30s")
    )
    return HeldOutStream(readings, s.labels, s.cadence_s)


@pytest.fixture(scope="module")
def quarter() -> HeldOutStream:
    return generate(900.0, n_meters=2, seed=11, duration_s=5 * 86400.0)


def test_judge_needs_the_goal_and_a_strict_gain() -> None:
    def row(served: float, baseline: float, goal: float | None) -> Row:
        return judge(Row("m", "1 s", "x", served, baseline, "b", "g", "lower", goal))

    assert row(1.0, 2.0, 5.0).verdict == MET
    assert row(1.0, 1.0, 5.0).verdict == NOT_MET  # a tie is no gain
    assert row(6.0, 9.0, 5.0).verdict == NOT_MET  # beats the baseline, misses the goal
    assert row(1.0, 2.0, None).verdict == MET
    assert row(float("nan"), 2.0, None).verdict == NOT_ASSESSABLE
    defined = {"baseline_defines_truth": True}
    assert judge(Row("m", "1 s", "x", 1.0, 1.0, "b", "g", "higher", 0.95, **defined)).verdict == MET
    assert judge(Row("m", "1 s", "x", 0.96, 1.0, "b", "g", "higher", 0.95, **defined)).verdict == NOT_MET
    assert judge(Row("m", "1 s", "x", 2.0, 0.0, "b", "g", "lower", 1.0, **defined)).verdict == NOT_MET
    higher = judge(Row("m", "1 s", "x", 0.9, 0.5, "b", "g", "higher", 0.95))
    assert higher.verdict == NOT_MET


def test_auc_and_future_index() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(roc_auc(np.array([0, 0]), np.array([0.1, 0.2])))
    ts = np.array([0.0, 1.0, 2.0, 5.0, 0.0, 5.2])
    meter = np.array(["a", "a", "a", "a", "b", "b"])
    assert future_index(ts, meter, 5.0, 0.5).tolist() == [3, -1, -1, -1, 5, -1]


def test_voltage_anomaly_rows_follow_the_flags(minute: HeldOutStream) -> None:
    a = blank_answers(minute)
    cat = minute.labels["category"].to_numpy()
    a["voltage_anomaly.anomaly_detected"] = cat == "ieee1159"  # perfect on IEEE 1159, blind inside the band
    rows = {r.metric: r for r in score_all(a, minute, "1 min", (voltage_anomaly.rows,))}
    fa = rows["false alarms, % of normal readings"]
    # the EN 50160 rule defines IEEE 1159 events: tying it on them meets the goals ...
    assert fa.served == 0.0 and fa.baseline_defines_truth and fa.verdict == MET
    assert rows["IEEE 1159 event recall, %"].served == 100.0
    assert rows["IEEE 1159 event recall, %"].verdict == MET
    # ... but a detector blind inside the band shows no gain over the rule where it can have one
    assert rows["neutral-shift (inside the band) event recall, %"].verdict == NOT_MET
    all_recall = rows["event recall, every labelled anomaly (IEEE 1159 + neutral shift), %"]
    assert not all_recall.baseline_defines_truth and all_recall.served <= all_recall.baseline
    assert all_recall.verdict == NOT_MET
    a["voltage_anomaly.anomaly_detected"] = np.isin(cat, ["ieee1159", "within_band"])
    rows = {r.metric: r for r in score_all(a, minute, "1 min", (voltage_anomaly.rows,))}
    all_f1 = rows["reading-level F1, every labelled anomaly (IEEE 1159 + neutral shift)"]
    assert all_f1.served == 1.0 and all_f1.baseline < 1.0 and all_f1.verdict == MET
    a["voltage_anomaly.anomaly_detected"] = True
    rows = {r.metric: r for r in score_all(a, minute, "1 min", (voltage_anomaly.rows,))}
    assert rows["false alarms, % of normal readings"].served == 100.0
    assert rows["false alarms, % of normal readings"].verdict == NOT_MET  # the goal decides
    shift = rows["neutral-shift (inside the band) event recall, %"]
    assert shift.served == 100.0 and shift.verdict == (MET if shift.baseline < 100.0 else NOT_MET)


def _serve_forecast(a: pd.DataFrame, stream: HeldOutStream, how: str) -> pd.DataFrame:
    """Forecasts from each answer's origin (one reading per call): the last interval its reading
    ended (a reading stamped on a boundary closes its interval). "latest" repeats the reading
    itself when its interval is still in progress."""
    loads = load_forecast.interval_loads(stream.readings)
    t_s = a["ts_s"].to_numpy()
    origin = (t_s // 900).astype(int) - 1
    in_progress = t_s % 900 != 0
    own = stream.readings[[f"active_power_{ph}" for ph in "abc"]].to_numpy(float).sum(axis=1)
    for h in load_forecast.HORIZONS_MIN:
        vals = []
        for m, o in zip(a["meter_id"], origin, strict=True):
            y = loads[m]
            vals.append(y.get({"perfect": o + h // 15}.get(how, o), np.nan))
        vals = np.asarray(vals) * (1.0 if how != "biased" else 1.5)
        a[f"load_forecast.h{h}.load_w"] = np.where(in_progress, own, np.nan) if how == "latest" else vals
    return a


def test_a_reading_belongs_to_the_interval_its_timestamp_ends() -> None:
    from gridtwin.core.intervals import interval_of, intervals_of_ns, last_complete

    t_1015 = int(pd.Timestamp("2026-03-02T10:15:00Z").timestamp())
    k_1000 = t_1015 // 900 - 1  # 10:00-10:15
    assert interval_of(t_1015, 0, 900) == k_1000  # stamped 10:15:00: the interval it ends
    assert interval_of(t_1015, 500_000_000, 900) == k_1000 + 1  # 10:15:00.5: the next one
    assert interval_of(t_1015, 1, 900) == k_1000 + 1  # a nanosecond later is already the next
    assert interval_of(t_1015 - 1, 999_999_999, 900) == k_1000
    assert last_complete(t_1015, 0, 900) == k_1000  # 10:15:00 completes 10:00-10:15 ...
    assert last_complete(t_1015 - 1, 999_999_999, 900) == k_1000 - 1  # ... not a ns before
    ns = np.array([t_1015 * 10**9, t_1015 * 10**9 + 1, (t_1015 - 900) * 10**9 + 1])
    assert intervals_of_ns(ns, 900).tolist() == [k_1000, k_1000 + 1, k_1000]


def test_the_forecast_origin_is_the_interval_a_15_min_reading_ends(quarter: HeldOutStream) -> None:
    """The world stamps its 15-min averages at the interval end; meter k's intervals are offset
    by 7·k s from the quarter hour, so only meter 0's readings fall on the boundaries."""
    a = _serve_forecast(blank_answers(quarter), quarter, "persistence")
    fc = load_forecast.forecasts(a, quarter.readings).set_index("meter_id")
    t_s = pd.to_datetime(quarter.readings["timestamp"], utc=True).astype("int64").to_numpy() // 10**9
    on_grid = quarter.readings["meter_id"].to_numpy() == "heldout-900s-0"
    assert (t_s[on_grid] % 900 == 0).all() and (t_s[~on_grid] % 900 != 0).all()
    # each on-grid reading completes its interval: it is the origin, nothing is in progress
    assert sorted(fc.loc["heldout-900s-0", "origin"]) == sorted(set(t_s[on_grid] // 900 - 1))
    assert fc.loc["heldout-900s-0", "latest_w"].isna().all()
    # ... so beyond 15 min its latest-reading persistence is the origin's mean (that reading)
    on = fc.loc[["heldout-900s-0"]].reset_index()
    at_60 = load_forecast._points(on, load_forecast.interval_loads(quarter.readings), 60)
    assert len(at_60["pred"]) > 100 and np.array_equal(at_60["latest"], at_60["persistence"])
    # a reading stamped 7 s after a boundary ends 7 s into the next interval: in progress there
    assert np.isfinite(fc.loc["heldout-900s-1", "latest_w"]).all()
    loads = load_forecast.interval_loads(quarter.readings)
    r0 = quarter.readings.iloc[0]
    own = sum(r0[f"active_power_{ph}"] for ph in "abc")
    assert loads[r0["meter_id"]][int(pd.Timestamp(r0["timestamp"]).timestamp()) // 900 - 1] == own


def test_load_forecast_scores_against_the_meters_later_intervals(quarter: HeldOutStream) -> None:
    perfect = _serve_forecast(blank_answers(quarter), quarter, "perfect")
    rows = load_forecast.rows(perfect, quarter, "15 min")
    assert [r.served for r in rows] == [0.0, 0.0, 0.0] and all(judge(r).verdict == MET for r in rows)
    naive = load_forecast.rows(
        _serve_forecast(blank_answers(quarter), quarter, "persistence"), quarter, "15 min"
    )
    assert naive[0].served == pytest.approx(naive[0].baseline) and judge(naive[0]).verdict == NOT_MET
    # repeating the reading just received (it ended the origin) is persistence, not the target
    assert naive[0].served > 1.0
    worse = load_forecast.rows(_serve_forecast(blank_answers(quarter), quarter, "biased"), quarter, "15 min")
    assert worse[0].served > worse[0].baseline
    no_fc = load_forecast.rows(blank_answers(quarter), quarter, "15 min")
    assert all(r.verdict == NOT_ASSESSABLE for r in no_fc)


def test_the_latest_reading_baseline_uses_the_interval_in_progress(minute_off_grid: HeldOutStream) -> None:
    """Beyond 15 min the baseline also holds the readings the call brought after the origin: a
    forecast that only repeats them ties it; at 15 min they are part of the target and stay out."""
    stream = minute_off_grid
    a = _serve_forecast(blank_answers(stream), stream, "latest")
    fc = load_forecast.forecasts(a, stream.readings)
    loads = load_forecast.interval_loads(stream.readings)
    at_60 = load_forecast._points(fc, loads, 60)
    assert len(at_60["pred"]) > 100 and np.allclose(at_60["latest"], at_60["pred"])
    assert np.isnan(load_forecast._points(fc, loads, 15)["latest"]).all()
    rows = load_forecast.rows(a, stream, "1 min")
    assert rows[1].served >= rows[1].baseline and judge(rows[1]).verdict == NOT_MET


def test_sag_duration_baseline_counts_from_the_first_reading_seen() -> None:
    # two events at one meter read every 900 s; the first truly started 600 s before its first
    # reading, which the meter cannot know: its naive "so far" is one cadence at that reading
    ts = np.array([0.0, 900.0, 1800.0, 2700.0, 3600.0, 4500.0])
    meter = np.array(["m"] * 6)
    start = np.array([np.nan, 300.0, 300.0, np.nan, 3500.0, 3500.0])
    ev = np.isfinite(start)
    got = voltage_sag.duration_so_far_s(ts, meter, start, ev, 900.0)
    np.testing.assert_allclose(got[ev], [900.0, 1800.0, 900.0, 1800.0])
    assert np.isnan(got[~ev]).all()


def test_sag_onset_probability_is_reported_not_judged(minute: HeldOutStream) -> None:
    # the world's sags have no precursor: a gain over 0.5 is chance, so the row stays n/a
    a = blank_answers(minute)
    a["voltage_sag.sag_probability"] = np.linspace(0.0, 1.0, len(a))
    onset = [judge(r) for r in voltage_sag.rows(a, minute, "1 min") if r.metric.startswith("ROC AUC")]
    assert len(onset) == 1 and onset[0].served is not None and onset[0].verdict == NOT_ASSESSABLE


def test_future_max_loading_window() -> None:
    t = np.arange(0.0, 7200.0 + 1, 900.0)  # 0, 900, …, 7200
    load = np.array([0.1, 0.2, 0.3, 1.5, 0.4, 0.2, 0.1, 0.1, 0.1])
    fut = overload_risk.future_max_loading(t, np.array(["m"] * len(t)), load)
    # at t = 0: readings in (1800, 3600] → 2700 (1.5), 3600 (0.4); at 900: 3600, 4500
    assert fut[0] == 1.5 and fut[1] == 0.4 and fut[2] == 0.2
    assert np.isnan(fut[-1]) and np.isnan(fut[-4])


def test_overload_rows_reward_foresight(minute: HeldOutStream) -> None:
    a = blank_answers(minute)
    lab = minute.labels
    now = (
        lab[[f"true_current_{p}_a" for p in "abc"]].to_numpy().max(axis=1) / lab["rated_current_a"].to_numpy()
    )
    fut = overload_risk.future_max_loading(a["ts_s"].to_numpy(), a["meter_id"].to_numpy(), now)
    a["overload_risk.predicted_loading_class"] = np.where(fut >= 1.0, "overload", "normal")
    a["overload_risk.overload_probability"] = np.nan_to_num(fut)
    f1_row, auc_row = (judge(r) for r in overload_risk.rows(a, minute, "1 min"))
    assert f1_row.served == 1.0 and f1_row.verdict == MET and auc_row.served == 1.0
    a["overload_risk.predicted_loading_class"] = "normal"
    a["overload_risk.overload_probability"] = 0.003  # a constant says nothing: never beats no skill
    f1_row, auc_row = (judge(r) for r in overload_risk.rows(a, minute, "1 min"))
    assert f1_row.served == 0.0 and auc_row.served == 0.5 and auc_row.baseline >= 0.5
    assert auc_row.verdict == NOT_MET


def test_reactive_power_truth_and_error(minute: HeldOutStream) -> None:
    assert reactive_power.required_kvar(np.array([100e3]), np.array([75e3]), 0.95)[0] == pytest.approx(
        42.132, 1e-3
    )
    assert reactive_power.required_kvar(np.array([-5e3, 5e3]), np.array([3e3, -1e3]), 0.95).tolist() == [0, 0]
    a = blank_answers(minute)
    lab = minute.labels
    truth = reactive_power.required_kvar(lab["true_active_power_w"], lab["true_reactive_power_var"], 0.95)
    a["reactive_power.required_compensation_kvar"] = truth
    assert judge(reactive_power.rows(a, minute, "1 min")[0]).verdict == MET
    a["reactive_power.required_compensation_kvar"] = truth * 1.2
    row = judge(reactive_power.rows(a, minute, "1 min")[0])
    assert row.served == pytest.approx(20.0) and row.verdict == NOT_MET


def test_phase_imbalance_cause(minute: HeldOutStream) -> None:
    a = blank_answers(minute)
    a["phase_imbalance.likely_cause"] = np.where(minute.labels["label"] == "open_phase", "open_phase", "none")
    assert judge(phase_imbalance.rows(a, minute, "1 min")[0]).served == 1.0
    a["phase_imbalance.likely_cause"] = "none"
    assert judge(phase_imbalance.rows(a, minute, "1 min")[0]).verdict == NOT_MET


def test_decisions_fail_on_inapplicable_equipment(minute: HeldOutStream) -> None:
    a = blank_answers(minute)
    a["power_flow_optimization.info.severity"] = assessment_pb2.NORMAL
    rows = {r.model: judge(r) for r in decisions.rows(a, minute, "1 min")}
    assert all(r.served == 0.0 and r.verdict == NOT_ASSESSABLE for r in rows.values())
    a.loc[a.index[:10], "optimal_dispatch.dispatch_recommendation.battery_kw"] = 3.3
    row = judge(decisions.rows(a, minute, "1 min")[0])
    assert row.served > 0 and row.verdict == NOT_MET


def test_score_all_keeps_only_the_models_asked_for(minute: HeldOutStream) -> None:
    a = blank_answers(minute)
    everything = {r.model for r in score_all(a, minute, "1 min")}
    assert {"phase_imbalance", "frequency_stability", "voltage_anomaly"} <= everything
    subset = score_all(a, minute, "1 min", models=("phase_imbalance", "frequency_stability"))
    assert {r.model for r in subset} == {"phase_imbalance", "frequency_stability"}


def test_score_all_refuses_misaligned_answers(minute: HeldOutStream) -> None:
    a = blank_answers(minute).iloc[::-1].reset_index(drop=True)
    with pytest.raises(ValueError, match="aligned"):
        score_all(a, minute, "1 min")


def test_report_tables_and_readme_block(tmp_path) -> None:
    from training.serving_eval.report import README_END, README_START, compact_table, markdown, publish_readme

    rows = [
        judge(
            Row("voltage_anomaly", c, "false alarms, %", 0.2, 0.0, "rule", "≤ 1 %", "lower", 1.0, 10)
        ).as_dict()
        for c in ("1 s", "1 min")
    ] + [
        Row(
            "harmonic_analysis", "1 s", "THD", note="no waveforms in the world", verdict=NOT_ASSESSABLE
        ).as_dict()
    ]
    va = {
        "model": {k: 0.0 for k in ("false_alarm_rate", "event_recall", "f1", "within_band_event_recall")},
        "normal_readings": 1,
        "event_readings": 1,
        "missed_events": [],
        "frozen_recognised": 1.0,
        "frozen_flagged_as_anomaly": 0.0,
        "normal_with_baseline": 1.0,
    }
    va["model"].update(false_alarms=0, events=1, events_detected=1, within_band_reading_recall=0.0)
    va["baseline"] = dict(va["model"])
    results = {
        "1 s": {"rows": rows[:1] + rows[2:], "voltage_anomaly": va, "readings": 3, "meters": 1},
        "1 min": {"rows": rows[1:2], "voltage_anomaly": va, "readings": 3, "meters": 1},
    }
    text = markdown(results, {"voltage_anomaly": "v"})
    assert "3 figures: 0 met, 2 not met, 1 not assessable." in text
    assert "- voltage_anomaly at 1 s: false alarms, % 0.2 vs baseline 0 (rule); goal ≤ 1 %" in text
    compact = compact_table(results)
    assert compact[2] == "| harmonic_analysis | THD | n/a | – |"
    assert (
        compact[3]
        == "| voltage_anomaly | false alarms, % | 0.2 vs 0 (**not met**) | 0.2 vs 0 (**not met**) |"
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nrest\n")
    assert publish_readme(results, readme)
    body = readme.read_text()
    assert (
        "old" not in body
        and body.startswith("intro\n")
        and body.endswith("rest\n")
        and "harmonic_analysis" in body
    )
