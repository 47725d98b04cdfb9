"""The held-out world (training/heldout): its variety and that its labels are the injected physics."""

from __future__ import annotations

import numpy as np
import pytest

from training.heldout import EVENT_KINDS, generate


@pytest.fixture(scope="module", params=[1.0, 60.0, 900.0], ids=["1s", "1min", "15min"])
def stream(request):
    return generate(request.param, n_meters=5, seed=7)


def test_meters_vary_like_real_ones(stream):
    r, lab = stream.readings, stream.labels
    assert set(r["nominal_voltage"]) == {120.0, 220.0, 230.0, 240.0, 277.0}
    assert set(r["nominal_frequency"]) == {50.0, 60.0}
    v = r[["voltage_a", "voltage_b", "voltage_c"]].to_numpy()
    assert np.allclose(v * 10, np.round(v * 10))  # 0.1 V resolution
    normal = (lab["category"] == "normal").to_numpy()
    vpu = v / r["nominal_voltage"].to_numpy()[:, None]
    levels = [np.median(vpu[normal & (r["meter_id"] == m).to_numpy()]) for m in r["meter_id"].unique()]
    assert np.ptp(levels) > 0.02  # set-points spread over 0.95–1.06 pu
    assert ((vpu[normal] > 0.9) & (vpu[normal] < 1.1)).all()
    assert (
        r.groupby("meter_id")["timestamp"].diff().dropna().dt.total_seconds() >= stream.cadence_s - 1e-3
    ).all()


def test_every_event_is_injected_and_visible_in_its_readings(stream):
    lab = stream.labels
    r = stream.readings
    vpu = r[["voltage_a", "voltage_b", "voltage_c"]].to_numpy() / r["nominal_voltage"].to_numpy()[:, None]
    ieee = (lab["category"] == "ieee1159").to_numpy()
    assert set(lab.loc[ieee, "label"]) == set(EVENT_KINDS)
    assert lab.loc[ieee, "event_id"].nunique() == 5 * len(EVENT_KINDS)
    outside = ((vpu < 0.9) | (vpu > 1.1)).any(axis=1)
    assert outside[ieee].all()  # the injected magnitudes are what the meter measures
    frozen = (lab["label"] == "frozen").to_numpy()
    assert frozen.sum() > 0
    cols = [c for c in r.columns if c not in ("meter_id", "timestamp")]
    for _, rows in r[frozen].groupby("meter_id"):
        assert len(rows) > 3 and (rows[cols].nunique() == 1).all()  # exact repeats: a stuck sensor


def test_truth_is_the_unmeasured_physics(stream):
    r, lab = stream.readings, stream.labels
    normal = (lab["label"] == "normal").to_numpy()
    v_true = (
        lab[[f"true_voltage_{p}_pu" for p in "abc"]].to_numpy() * r["nominal_voltage"].to_numpy()[:, None]
    )
    v_meas = r[["voltage_a", "voltage_b", "voltage_c"]].to_numpy()
    err = np.abs(v_meas[normal] / v_true[normal] - 1)
    assert 0 < err.mean() < 0.01  # class 0.5/1 error and 0.1 V steps, not an exact copy
    p_meas = r[[f"active_power_{p}" for p in "abc"]].to_numpy().sum(axis=1)
    assert np.corrcoef(p_meas[normal], lab["true_active_power_w"][normal])[0, 1] > 0.99
    frozen = (lab["label"] == "frozen").to_numpy()
    assert lab.loc[frozen, "true_active_power_w"].nunique() > 1  # the truth keeps moving under a stuck sensor
    sag = (lab["label"] == "sag").to_numpy()
    assert np.allclose(lab.loc[sag, "event_retained_pu"], 0.6, atol=0.05)
    assert (lab.loc[sag, "event_end_s"] > lab.loc[sag, "event_start_s"]).all()
    assert lab.loc[normal, "event_start_s"].isna().all()


def test_asset_ratings_make_overloads(stream):
    lab = stream.labels
    rated = lab.groupby("meter_id")["rated_current_a"].nunique()
    assert (rated == 1).all()  # one rating per meter
    i_max = lab[[f"true_current_{p}_a" for p in "abc"]].to_numpy().max(axis=1)
    share = (i_max >= lab["rated_current_a"].to_numpy()).mean()
    assert 0.002 < share < 0.05  # overloads exist, and they are rare
