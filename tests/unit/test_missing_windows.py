"""Models handle a time window the cadence cannot support explicitly (issue 9), never as zero:
overload_risk's design and voltage_sag's observation-anchored estimates."""

from __future__ import annotations

import numpy as np

from gridtwin.models._maintenance.loading import DESIGN_NAMES, design_matrix, future_loading
from gridtwin.models._maintenance.sag import anchored_estimates

NAN = np.nan


def test_missing_10min_window_takes_the_2h_window_and_says_so() -> None:
    # current max, mean; 10-min mean/std/trend (missing at 15 min); 2-h mean/std/trend
    src = np.array([[80.0, 60.0, NAN, NAN, NAN, 50.0, 5.0, 0.001]])
    x = design_matrix(src, np.array([100.0]))[0]
    col = dict(zip(DESIGN_NAMES, x, strict=True))
    assert col["loading_pu"] == 0.8
    assert col["win10min_missing"] == 1.0 and col["win2h_missing"] == 0.0
    assert col["mean_phase_loading_minus_win10min_mean_pu"] == col["mean_phase_loading_minus_win2h_mean_pu"]
    assert np.isclose(col["mean_phase_loading_minus_win2h_mean_pu"], 0.1)
    assert np.isclose(col["win10min_loading_trend_pu_per_30min"], 0.001 * 1800 / 100)
    assert np.isfinite(x).all()


def test_no_window_at_all_stands_in_with_the_reading_itself() -> None:
    src = np.array([[80.0, 60.0, NAN, NAN, NAN, NAN, NAN, NAN]])
    col = dict(zip(DESIGN_NAMES, design_matrix(src, np.array([100.0]))[0], strict=True))
    assert col["win10min_missing"] == 1.0 and col["win2h_missing"] == 1.0
    assert col["mean_phase_loading_minus_win2h_mean_pu"] == 0.0  # the reading is its own mean
    assert col["win2h_loading_trend_pu_per_30min"] == 0.0


def test_no_current_leaves_nan_for_the_caller_to_reject() -> None:
    src = np.array([[NAN, NAN, 1.0, 0.1, 0.0, 1.0, 0.1, 0.0]])
    assert np.isnan(design_matrix(src, np.array([100.0]))[0, 0])


def test_overload_probability_rises_with_predicted_loading_and_spread() -> None:
    pred, p = future_loading(np.array([0.5, 0.9, 1.1]), np.zeros(3), np.zeros(3), (0.05, 0.0))
    assert pred.tolist() == [0.5, 0.9, 1.1] and p[0] < p[1] < 0.5 < p[2]
    _, calm = future_loading(np.array([0.9]), np.zeros(1), np.array([0.0]), (0.02, 0.5))
    _, volatile = future_loading(np.array([0.9]), np.zeros(1), np.array([0.2]), (0.02, 0.5))
    assert volatile[0] > calm[0]


PARAMS = {
    "lambda_depth": 0.5,
    "lambda_duration": 1.0,
    "trace_interval_s": 0.01,
    "median_log_duration_s": np.log(3.0),
    "duration_ratio_log": np.log(2.0),
}


def test_sag_estimates_outside_the_trained_interval_start_from_the_observation() -> None:
    # a 1-min reading: the trace forests' corrections (−0.3 pu, ×e³) must not apply
    depth, dur = anchored_estimates(
        np.array([0.6]), np.array([120.0]), np.array([60.0]), np.array([-0.3]), np.array([3.0]), PARAMS
    )
    assert depth[0] == 0.6
    assert np.isclose(dur[0], 240.0)  # so far × the validation ratio


def test_sag_estimates_at_the_trace_interval_use_the_forests_share() -> None:
    depth, dur = anchored_estimates(
        np.array([0.6]), np.array([0.5]), np.array([0.01]), np.array([-0.2]), np.array([1.0]), PARAMS
    )
    assert np.isclose(depth[0], 0.5)  # 0.6 + 0.5 × (−0.2)
    assert np.isclose(dur[0], 0.5 * np.e)
    # a forest predicting a shallower final depth never lifts the estimate above the reading
    depth, _ = anchored_estimates(
        np.array([0.6]), np.array([0.5]), np.array([0.01]), np.array([0.2]), np.array([0.0]), PARAMS
    )
    assert depth[0] == 0.6


def test_sag_without_a_duration_so_far_gets_the_training_median() -> None:
    _, dur = anchored_estimates(
        np.array([0.6]), np.array([NAN]), np.array([NAN]), np.array([0.0]), np.array([0.0]), PARAMS
    )
    assert np.isclose(dur[0], 3.0)
