"""Drift detection on the simulated live feed with the default window settings (issue 13):
the unchanged feed raises no drift (≤ 1 % of windows) and a +4 % tap change is flagged within
a stated number of readings. The same measurement as `python -m bench.drift`, shortened to two
days of judged windows on the feed (seed 11) whose fixed-threshold day window was flagged
46 % of the time (docs/lifecycle.md)."""

from __future__ import annotations

import pytest

from bench.drift import measure, reference_of
from gridtwin.lifecycle.window import WindowSettings

pytestmark = pytest.mark.slow

# docs/lifecycle.md states it: 9720 and 12480 readings measured on seeds 11 and 5 (12 meters,
# 48 h before the tap). It was 3000 while the training feeder had one fixed busbar set-point
# (1.02 pu): its voltages' 99 % quantile was 1.034 pu, so the whole tapped feed (≈ 1.054 pu)
# left the reference. The training data now draws a set-point per 6-h block in 0.95–1.06 pu
# (normal operation; the reference covers it: 99 % quantile 1.059 pu), so only the tapped
# readings above the top of normal operation count, and a day window takes longer to fill.
TAP_FLAGGED_WITHIN_READINGS = 12_500
TAP_HOURS = 24.0  # > 12 500 readings of 12 meters (17.4 h)


def test_unchanged_feed_rarely_drifts_and_a_tap_change_is_flagged(quick_registry):
    cfg = WindowSettings.from_env()
    assert cfg.window_s == 86400, "the test measures the default window"
    ref = reference_of("voltage_anomaly", str(quick_registry))
    figures = measure(ref, cfg, 12, 48.0, TAP_HOURS, 11, "voltage_anomaly", str(quick_registry))
    assert figures["windows_judged"] >= 24 * 12  # a day of 5-min steps
    assert figures["false_drift_share"] <= 0.01, figures
    assert figures["tap_flagged_after_readings"] is not None, figures
    assert figures["tap_flagged_after_readings"] <= TAP_FLAGGED_WITHIN_READINGS, figures
    assert {"voltage_a_pu", "voltage_b_pu", "voltage_c_pu", "voltage_mean_pu"} & set(figures["tap_drivers"])
