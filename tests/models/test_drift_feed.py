"""Drift detection on the simulated live feed with the default window settings (issue 13):
the unchanged feed raises no drift (≤ 1 % of windows) and a +4 % tap change is flagged within
a stated number of readings. The same measurement as `python -m bench.drift`, shortened to two
days of judged windows on the feed (seed 11) whose fixed-threshold day window was flagged
46 % of the time (docs/lifecycle.md)."""

from __future__ import annotations

import pytest

from bench.drift import measure, reference_of
from gridtwin.lifecycle.window import WindowSettings
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

# docs/lifecycle.md states it: 2820 and 2880 readings measured on seeds 5 and 11 (12 meters).
TAP_FLAGGED_WITHIN_READINGS = 3000


def test_unchanged_feed_rarely_drifts_and_a_tap_change_is_flagged():
    if not (ROOT / "registry" / "voltage_anomaly" / "manifest.json").exists():
        pytest.skip("no quick registry: run `gridtwin train --profile quick`")
    cfg = WindowSettings.from_env()
    assert cfg.window_s == 86400, "the test measures the default window"
    ref = reference_of("voltage_anomaly", str(ROOT / "registry"))
    figures = measure(ref, cfg, 12, 48.0, 5.0, 11, "voltage_anomaly", str(ROOT / "registry"))
    assert figures["windows_judged"] >= 24 * 12  # a day of 5-min steps
    assert figures["false_drift_share"] <= 0.01, figures
    assert figures["tap_flagged_after_readings"] is not None, figures
    assert figures["tap_flagged_after_readings"] <= TAP_FLAGGED_WITHIN_READINGS, figures
    assert {"voltage_a_pu", "voltage_b_pu", "voltage_c_pu", "voltage_mean_pu"} & set(figures["tap_drivers"])
