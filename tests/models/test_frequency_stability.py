"""1.3 frequency stability: ONNX Runtime == Keras, sequence builder, registered quality, serving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gridtwin.features.schema import FEATURE_NAMES
from gridtwin.models._monitoring.frequency_sequence import build_sequences
from gridtwin.models._monitoring.frequency_shrinkage import PARAMS_FILE, Shrinkage
from gridtwin.models.frequency_stability import Model, stability_score
from gridtwin.registry import RegistryEntry, load_entry
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2
from training.models._monitoring.testing import assert_vectorised, module_batch


def test_onnx_lstm_matches_keras_on_held_out_windows(tmp_path):
    """The served graph (ONNX Runtime) equals Keras' own predict within 1e-4 (0.1-Hz units,
    i.e. 10 µHz) on held-out test windows of the simulator's frequency series."""
    from training.keras_export import configure, export_onnx, keras_predict
    from training.models.frequency_stability import PARITY_TOL, build_net, lag_samples

    keras = configure(seed=0)
    net = build_net(keras)  # seeded initial weights: the export path is what is under test
    rng = np.random.default_rng(0)
    t = np.arange(4000.0)
    f_true = 50.0 + 0.05 * np.sin(2 * np.pi * t / 600) + np.where(t > 3000, -0.2, 0.0)
    ends = rng.integers(3000, 3900, 500)  # the last quarter, never seen by any fit
    fl, dl, _ = lag_samples(f_true, ends, rng.choice([1, 5, 60], 500), np.full(500, 10), rng)
    x = build_sequences(fl, dl, np.full(500, 50.0))
    path = export_onnx(net, tmp_path / "lstm.onnx")
    served = OnnxModel(path).run_one(x)
    assert served.shape == (500, 1)
    assert np.abs(served - keras_predict(net, x)).max() < PARITY_TOL == 1e-4


def test_training_series_bank_and_meter_resolution():
    """Training sequences come from the simulator's series (row 0) or it plus one fast OU
    component; a sequence's readings are unquantised or in 0.01-Hz steps, its target is not."""
    from training.models.frequency_stability import FAST_SIGMA_HZ, FAST_TAU_S, fast_bank, lag_samples

    rng = np.random.default_rng(1)
    f_true = 50.0 + 0.02 * np.sin(np.arange(200_000.0) / 900)
    bank = fast_bank(f_true, rng)
    assert bank.shape == (1 + len(FAST_TAU_S) * len(FAST_SIGMA_HZ), len(f_true))
    assert np.array_equal(bank[0], f_true)
    extra_sd = (bank[1:] - f_true).std(axis=1)
    expected = np.tile(FAST_SIGMA_HZ, len(FAST_TAU_S))
    assert np.allclose(extra_sd, expected, rtol=0.15)
    ends = rng.integers(1000, 190_000, 4000)
    series = rng.integers(0, len(bank), 4000)
    fl, _, target = lag_samples(bank, ends, np.ones(4000, int), np.full(4000, 10), rng, series)
    assert np.array_equal(target, bank[series, ends + 5])
    steps = np.abs(fl / 0.01 - np.round(fl / 0.01)).max(axis=1) < 1e-6
    assert 0.35 < steps.mean() < 0.65  # about half the meters read in 0.01-Hz steps
    assert np.abs(fl[~steps, 0] - bank[series[~steps], ends[~steps]]).max() < 0.01  # σ = 1 mHz noise


def test_sequence_builder_orders_and_masks():
    f = np.array([[50.1, 50.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]])
    dt = np.array([[2.0] + [np.nan] * 9])
    x = build_sequences(f, dt, np.array([50.0]))
    assert x[0, -1, 7] == 1 and x[0, -2, 7] == 1 and x[0, :-2, 7].sum() == 0
    assert x[0, -1, 0] == pytest.approx(1.0)  # (50.1 − 50) × 10
    assert x[0, -1, 4] == pytest.approx((50.1 - 50.0) / 2.0 * 10)  # ROCOF with the real Δt
    assert x[0, -2, 5] == pytest.approx(2.0 / 60)


def test_stability_score_bounds():
    s = stability_score(
        np.array([50.0, 50.1, 50.2, 49.0, 60.0]),
        np.array([50.0, 50.0, 50.0, 50.0, 60.0]),
        np.array([0.0, 0.0, 0.0, 0.0, 0.6]),
    )
    assert s.tolist()[0] == 100 and s[1] == pytest.approx(50) and s[2] == 0 and s[3] == 0 and s[4] == 0


def test_registered_manifest(quick_registry):
    entry = load_entry("frequency_stability", quick_registry)
    m = entry.manifest["metrics"]
    assert m["mae_hz_1s_cadence"]["value"] < m["mae_hz_1s_cadence"]["baseline"]  # beats persistence
    assert m["mae_hz_1s_cadence"]["value"] < 0.02
    assert m["mae_hz_1s_cadence"]["goal"] == "< 0.02"
    # The registry records the serving latency; its budget is measured by bench/, not asserted here.
    assert {"single_row_ms_p50", "batch_1000_ms"} <= set(entry.manifest["latency"])
    assert entry.manifest["latency"]["single_row_ms_p50"] > 0
    # Training checked the exported graph against Keras on held-out windows.
    parity = entry.manifest["onnx_parity"]
    assert parity["rows"] > 1000 and 0 <= parity["max_abs"] < parity["tolerance"] == 1e-4
    # The shrinkage is registered per trained cadence, chosen on the validation regimes: its
    # worst regime does no worse than persistence (α = 0) nor than the unshrunk network (α = 1).
    from training.models.frequency_stability import CADENCES_S

    shrinkage = Shrinkage.load(entry.artifact("params"))
    per_cadence = entry.manifest["hyperparameters"]["shrinkage"]["per_cadence"]
    assert list(shrinkage.cadences_s) == [c["cadence_s"] for c in per_cadence] == CADENCES_S.tolist()
    assert list(shrinkage.alphas) == [c["alpha"] for c in per_cadence]
    assert all(c["worst_ratio"] <= min(1.0, c["worst_ratio_unshrunk"]) for c in per_cadence)


@pytest.fixture(scope="module")
def served(quick_registry):
    return Model(load_entry("frequency_stability", quick_registry))


def _rows(n: int, slope: float, f0: float = 50.0) -> np.ndarray:
    x = np.full((n, len(FEATURE_NAMES)), np.nan)
    rng = np.random.default_rng(3)
    for r in range(n):
        lags = f0 + (slope * -np.arange(10)) + rng.normal(0, 0.001, 10) + 0.02 * r / n
        for k in range(10):
            x[r, FEATURE_NAMES.index(f"frequency_lag_{k}")] = lags[k]
            x[r, FEATURE_NAMES.index(f"dt_lag_{k}")] = 1.0
        x[r, FEATURE_NAMES.index("frequency_hz")] = lags[0]
        x[r, FEATURE_NAMES.index("nominal_frequency_hz")] = f0
        x[r, FEATURE_NAMES.index("rocof_hz_per_s")] = lags[0] - lags[1]
    return x


def test_served_outputs(served):
    x = np.vstack([_rows(5, 0.0), _rows(5, -0.02), _rows(3, 0.0, 60.0)])
    out = assert_vectorised(served, module_batch(x))
    for o, f in zip(out, x[:, FEATURE_NAMES.index("frequency_hz")], strict=True):
        assert isinstance(o, assessment_pb2.FrequencyStability) and o.info.status == assessment_pb2.OK
        assert abs(o.predicted_frequency_hz - f) < 0.5
        assert 0 <= o.stability_score <= 100 and o.trend in ("rising", "falling", "stable")
    # A flat history is predicted to stay within 20 mHz (no invented swings); after a steep fall
    # (trip-like) the prediction differs from the flat case (the network uses the history).
    f = x[:, FEATURE_NAMES.index("frequency_hz")]
    change = np.array([o.predicted_frequency_hz for o in out]) - f
    assert np.abs(change[:5]).max() < 0.02
    assert abs(change[5:10].mean() - change[:5].mean()) > 1e-3


def test_missing_nominal_is_inferred_from_the_measured_frequency(served):
    # a 60 Hz meter with no stated nominal: a steady 60.01 Hz is stable, not 10 Hz off a 50 Hz
    x = _rows(2, 0.0, 60.0)
    x[:, FEATURE_NAMES.index("nominal_frequency_hz")] = np.nan
    out = served.predict(module_batch(x))
    assert all(o.stability_score > 50 and o.info.severity == assessment_pb2.NORMAL for o in out)


def test_no_history_is_degraded_persistence(served):
    x = np.full((1, len(FEATURE_NAMES)), np.nan)
    x[0, FEATURE_NAMES.index("frequency_hz")] = 50.03
    x[0, FEATURE_NAMES.index("frequency_lag_0")] = 50.03
    x[0, FEATURE_NAMES.index("nominal_frequency_hz")] = 50.0
    o = served.predict(module_batch(x))[0]
    assert o.info.status == assessment_pb2.DEGRADED and o.predicted_frequency_hz == pytest.approx(50.03)
    assert len(served.predict(module_batch(np.zeros((2, 135))))) == 2


def test_minimax_alpha_bounds_the_correction_by_the_regime_where_it_overshoots():
    """Two validation regimes: in one the correction is the true change (best α = 1), in the
    other it is 2.5× the true change (best α = 0.4). The worst ratio is max(|1 − α|, |1 − 2.5α|),
    lowest at α = 2/3.5 ≈ 0.571, i.e. 0.55 on the 0.05 grid; either regime alone picks its own α."""
    from training.models._monitoring.frequency_shrinkage import mae_ratio_by_alpha, minimax_alpha

    rng = np.random.default_rng(5)
    f_last = 50.0 + rng.normal(0, 0.02, 3000)
    change_a, change_b = rng.normal(0, 0.01, 3000), rng.normal(0, 0.01, 3000)
    exact = (f_last, change_a, f_last + change_a)
    overshoot = (f_last, 2.5 * change_b, f_last + change_b)
    alpha, ratios = minimax_alpha([exact, overshoot])
    assert alpha == pytest.approx(0.55)
    assert ratios.shape == (2, 21)
    assert ratios[:, 0] == pytest.approx([1.0, 1.0])  # α = 0 is persistence
    assert ratios.max(axis=0)[11] == pytest.approx(0.45)  # max(1 − 0.55, 2.5·0.55 − 1)
    assert minimax_alpha([exact])[0] == 1.0
    assert minimax_alpha([overshoot])[0] == pytest.approx(0.4)
    # A constant series: persistence is exact, so only α = 0 keeps the ratio finite.
    flat = mae_ratio_by_alpha(np.full(10, 60.0), np.full(10, 0.01), np.full(10, 60.0))
    assert flat[0] == 1.0 and np.isinf(flat[1:]).all()
    with pytest.raises(ValueError):
        minimax_alpha([])


def test_shrinkage_interpolates_on_log_interval_and_validates():
    """α between trained cadences on log Δt, held beyond them; α outside [0, 1] is refused."""
    s = Shrinkage((1.0, 10.0, 60.0), (0.8, 0.4, 0.2))
    got = s.alpha(np.array([1.0, np.sqrt(10.0), 10.0, 0.5, 600.0, np.nan, 0.0]))
    assert got == pytest.approx([0.8, 0.6, 0.4, 0.8, 0.2, 0.8, 0.8])
    assert (
        Shrinkage.load(None) == Shrinkage.unshrunk() and Shrinkage.unshrunk().alpha(np.array([7.0]))[0] == 1
    )
    for bad in (((1.0,), (1.2,)), ((10.0, 1.0), (0.5, 0.5)), ((1.0,), (0.5, 0.5)), ((0.0,), (0.5,))):
        with pytest.raises(ValueError):
            Shrinkage(*bad)


def _entry_with(tmp_path, onnx_path, alphas: dict[float, float] | None):
    """A registry entry of the given graph, with a params artifact when ``alphas`` is given."""
    folder = tmp_path / ("params" if alphas else "no-params")
    folder.mkdir()
    (folder / "lstm.onnx").write_bytes(onnx_path.read_bytes())
    artifacts = {"model": "lstm.onnx"}
    if alphas is not None:
        (folder / PARAMS_FILE).write_text(
            json.dumps({"cadences_s": list(alphas), "alphas": list(alphas.values())})
        )
        artifacts["params"] = PARAMS_FILE
    return RegistryEntry("frequency_stability", folder, {"version": "test", "artifacts": artifacts})


def test_served_prediction_scales_the_correction_by_alpha_and_falls_back_to_one(tmp_path):
    """Served f_pred − f_0 is α(Δt) times the network's change; an entry without ``params``
    (older registries) serves the unshrunk network. The graph is a seeded untrained LSTM: what
    is under test is the serving arithmetic, not the fit."""
    from training.keras_export import configure, export_onnx
    from training.models.frequency_stability import build_net

    onnx_path = export_onnx(build_net(configure(seed=0)), tmp_path / "lstm.onnx")
    x = np.vstack([_rows(4, -0.02), _rows(4, 0.01, 60.0)])
    dt0 = FEATURE_NAMES.index("dt_lag_0")
    x[4:, [FEATURE_NAMES.index(f"dt_lag_{k}") for k in range(10)]] = 60.0  # a 60-s meter
    f_now = x[:, FEATURE_NAMES.index("frequency_hz")]

    def change(entry) -> np.ndarray:
        out = Model(entry).predict(module_batch(x))
        assert all(o.info.status == assessment_pb2.OK for o in out)
        return np.array([o.predicted_frequency_hz for o in out]) - f_now

    with_params = _entry_with(tmp_path, onnx_path, {1.0: 0.25, 60.0: 0.5})
    full = change(_entry_with(tmp_path, onnx_path, None))
    shrunk = change(with_params)
    assert np.abs(full).min() > 1e-6  # the network moves the prediction, so scaling is visible
    assert x[:4, dt0] == pytest.approx(1.0) and x[4:, dt0] == pytest.approx(60.0)
    assert shrunk[:4] == pytest.approx(0.25 * full[:4], abs=1e-9)
    assert shrunk[4:] == pytest.approx(0.5 * full[4:], abs=1e-9)
    assert Model(with_params).predict(module_batch(x[:1]))[0].info.detail.endswith("correction × 0.25")
