"""ONNX Runtime against the training library, one test per converted model.

Each test fits the estimator the model's training fits (same class, same settings that
matter to the conversion) on simulator rows through the model's own design functions,
exports it with `training.onnx_export`, opens it with `gridtwin.serving.runtime.OnnxModel`
and compares with the library's own predict / predict_proba / decision_function on
held-out rows. Tolerances:

* tree ensembles (random forests, decision tree, XGBoost): inputs are float32 in both
  (scikit-learn's trees and XGBoost compare float32 values), so every row reaches the same
  leaves; outputs agree within 1e-5 absolute (float32 accumulation of the leaf values);
* SVM / SVR (RBF kernel): ONNX Runtime sums the kernel expansion in float32, so decision
  values and regression outputs agree within 1e-4 relative to the output's scale (labels
  exactly); optimal_dispatch's SVRs are exported as a plain-operator graph
  (`rbf_svr_to_onnx`, a GEMM) and compared with the scikit-learn pipeline's predict;
* the polynomial ridge regression of energy_loss: within 1e-4 relative (float32 powers);
* XGBoost AFT: within 1e-5 relative; TreeSHAP (the kept engine) vs XGBoost's
  pred_contribs: within 1e-5 absolute (log-odds).

Where a supervised label is needed and the model's own label table would cost a long join,
the label is the meter a reading came from: a genuine property of the row, not a threshold
of its inputs (the parity, not the fit quality, is under test).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from gridtwin.features.frame import features_from_dataframe
from gridtwin.serving.runtime import OnnxModel
from training.onnx_export import rbf_svr_to_onnx, sklearn_to_onnx, xgboost_to_onnx
from training.pipeline import dataset_dir

FEEDER = "kerber_dorfnetz"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """3,000 serving-feature rows of the quick simulator dataset, spread over all meters."""
    r = pd.read_parquet(dataset_dir("quick", 0) / FEEDER / "readings.parquet")
    r = r[r.groupby("meter_id").cumcount() < 400]
    feats = features_from_dataframe(r)
    feats = feats[feats.groupby("meter_id").cumcount() >= 20]  # past the rolling windows' start
    return feats.sample(n=min(3000, len(feats)), random_state=0).reset_index(drop=True)


def meter_label(frame: pd.DataFrame, k: int) -> np.ndarray:
    codes = pd.factorize(frame["meter_id"])[0]
    return (codes % k).astype(np.int64)


def halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(x) * 2 // 3
    return x[:n], x[n:]


def graph(estimator, n_features: int, tmp_path, name: str) -> OnnxModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return OnnxModel(sklearn_to_onnx(estimator, n_features, tmp_path / f"{name}.onnx"))


def test_voltage_sag_forests(rows, tmp_path) -> None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from gridtwin.models._maintenance.common import impute
    from gridtwin.models._maintenance.sag import CONDITION_COLUMNS, SAG_COLUMNS, sag_design

    x = sag_design(rows[list(SAG_COLUMNS)].to_numpy(float))
    x = impute(x, np.nanmedian(x, axis=0))
    y = meter_label(rows, 4)
    (xa, xb), (ya, _) = halves(x), halves(y)
    w = np.linspace(0.5, 1.5, len(xa))  # sample weights, as in training
    cause = RandomForestClassifier(12, max_depth=14, min_samples_leaf=2, random_state=0)
    cause.fit(xa, ya, sample_weight=w)
    got = graph(cause, x.shape[1], tmp_path, "cause").run_one(xb, "probabilities")
    np.testing.assert_allclose(got, cause.predict_proba(xb), atol=1e-5)

    target = rows["voltage_min_pu"].shift(-1).fillna(1.0).to_numpy()[: len(xa)]  # a later reading
    depth = RandomForestRegressor(
        8, criterion="absolute_error", max_samples=0.5, max_depth=10, random_state=0
    )
    depth.fit(xa, target, sample_weight=w)
    np.testing.assert_allclose(
        graph(depth, x.shape[1], tmp_path, "depth").run_one(xb)[:, 0], depth.predict(xb), atol=1e-5
    )

    hx = rows[list(CONDITION_COLUMNS)].to_numpy(float)
    hx = impute(hx, np.nanmedian(hx, axis=0))
    hour = RandomForestClassifier(12, max_depth=3, min_samples_leaf=50, random_state=0)
    hour.fit(hx[: len(xa)], (y[: len(xa)] == 1).astype(np.int64))
    got = graph(hour, hx.shape[1], tmp_path, "hour").run_one(hx[len(xa) :], "probabilities")
    np.testing.assert_allclose(got, hour.predict_proba(hx[len(xa) :]), atol=1e-5)


def test_harmonic_analysis_forests(rows, tmp_path) -> None:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from training.models.harmonic_analysis import EST_COLUMNS

    x = rows[list(EST_COLUMNS)].to_numpy(float)
    x = np.where(np.isfinite(x), x, np.nanmedian(x, axis=0))
    y = meter_label(rows, 4)
    (xa, xb), (ya, _) = halves(x), halves(y)
    source = RandomForestClassifier(20, max_depth=14, min_samples_leaf=2, random_state=0).fit(xa, ya)
    got = graph(source, x.shape[1], tmp_path, "source").run_one(xb, "probabilities")
    np.testing.assert_allclose(got, source.predict_proba(xb), atol=1e-5)
    thd = rows["voltage_mean_pu"].to_numpy()[: len(xa)] * 3.0  # any real-valued column of the rows
    est = RandomForestRegressor(30, max_depth=6, min_samples_leaf=20, random_state=0).fit(xa, thd)
    np.testing.assert_allclose(
        graph(est, x.shape[1], tmp_path, "est").run_one(xb)[:, 0], est.predict(xb), atol=1e-5
    )


def test_phase_imbalance_tree_with_missing_values(rows, tmp_path) -> None:
    from sklearn.tree import DecisionTreeClassifier

    from gridtwin.models._monitoring.imbalance_features import INPUT_COLUMNS, cause_descriptors

    x = cause_descriptors(rows[list(INPUT_COLUMNS)].to_numpy(float))
    x[np.random.default_rng(0).random(x.shape) < 0.05] = np.nan  # sklearn learns a side for NaN
    y = meter_label(rows, 5)
    (xa, xb), (ya, _) = halves(x), halves(y)
    tree = DecisionTreeClassifier(max_depth=12, min_samples_leaf=5, class_weight="balanced", random_state=0)
    tree.fit(xa, ya)
    got = graph(tree, x.shape[1], tmp_path, "tree").run_one(xb, "probabilities")
    np.testing.assert_allclose(got, tree.predict_proba(xb), atol=1e-5)


def test_tree_rows_at_the_float32_neighbours_of_every_split(tmp_path) -> None:
    """Readings quantised to 0.1 V: a best-split threshold is the midpoint of two float32
    values, and rounding it to the nearest float32 can land on the upper one. Rows holding,
    at each split's feature, the float32 at-or-below and just above its threshold reach the
    same leaves in ONNX Runtime as in scikit-learn (skl2onnx rounds split values down, as
    our isolation-forest exporter does)."""
    from sklearn.tree import DecisionTreeRegressor

    from training.onnx_export import float32_at_or_below

    rng = np.random.default_rng(3)
    x = np.round(rng.normal(230.0, 4.0, size=(4000, 3)), 1)
    y = x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 0.5, len(x))
    tree = DecisionTreeRegressor(max_depth=10, random_state=0).fit(x, y)
    t = tree.tree_
    probe = []
    for i in np.flatnonzero(t.children_left != -1):
        below = np.float32(float32_at_or_below(t.threshold[i]))
        for v in (below, np.nextafter(below, np.float32(np.inf))):
            row = x[rng.integers(len(x))].astype(np.float32)
            row[t.feature[i]] = v
            probe.append(row)
    probe = np.array(probe, dtype=np.float32)
    got = graph(tree, 3, tmp_path, "quantised").run_one(probe).ravel()
    np.testing.assert_allclose(got, tree.predict(probe), atol=1e-4)


def test_overload_risk_svr(rows, tmp_path) -> None:
    from sklearn.svm import SVR

    from gridtwin.models._maintenance.loading import SOURCE_COLUMNS, design_matrix

    src = rows[list(SOURCE_COLUMNS)].to_numpy(float)
    x = design_matrix(src, np.full(len(src), 100.0))
    assert np.isfinite(x).all()  # missing windows are handled in the design, not left as NaN
    mu, sd = x.mean(0), x.std(0) + 1e-9
    target = rows["current_max_a"].shift(-3).bfill().to_numpy() / 100.0  # a later reading, pu
    (xa, xb), (ya, _) = halves(x[:1500]), halves(target[:1500])
    svr = SVR(C=1.0, gamma=0.05, epsilon=0.005).fit((xa - mu) / sd, ya)
    got = OnnxModel(rbf_svr_to_onnx(svr, mu, sd, tmp_path / "svr.onnx")).run_one(xb)[:, 0]
    np.testing.assert_allclose(got, svr.predict((xb - mu) / sd), atol=1e-4 * max(1.0, np.abs(ya).max()))


def test_grid_stability_forest_and_booster(rows, tmp_path) -> None:
    import xgboost as xgb
    from sklearn.ensemble import RandomForestClassifier

    from gridtwin.decision.stability import RAW_FEATURES

    x = rows[list(RAW_FEATURES)].to_numpy(float)
    x[np.random.default_rng(1).random(x.shape) < 0.05] = np.nan  # XGBoost's default branches
    med = np.nanmedian(x, axis=0)
    xi = np.where(np.isnan(x), med, x)
    y = meter_label(rows, 2)
    (xa, xb), (ya, _) = halves(x), halves(y)
    (xia, xib) = halves(xi)
    rf = RandomForestClassifier(
        40, max_depth=10, min_samples_leaf=5, class_weight="balanced_subsample", random_state=0
    ).fit(xia, ya)
    got = graph(rf, x.shape[1], tmp_path, "rf").run_one(xib, "probabilities")
    np.testing.assert_allclose(got, rf.predict_proba(xib), atol=1e-5)
    booster = xgb.XGBClassifier(
        n_estimators=80, max_depth=5, learning_rate=0.15, subsample=0.8, colsample_bytree=0.8, n_jobs=1,
        random_state=0, tree_method="hist", max_bin=64,
    ).fit(xa, ya)  # fmt: skip
    onnx = OnnxModel(xgboost_to_onnx(booster, x.shape[1], tmp_path / "xgb.onnx"))
    np.testing.assert_allclose(onnx.run_one(xb, "probabilities"), booster.predict_proba(xb), atol=1e-5)


def test_optimal_dispatch_svr_surrogate(tmp_path) -> None:
    from sklearn.svm import SVR

    from gridtwin.decision.dispatch import DispatchLP, DispatchParams
    from training.models.optimal_dispatch import label, surrogate_pipeline, svr_inputs, tr_states

    class _Ctx:  # tr_states reads one table of the quick dataset
        def table(self, name: str, feeder: str) -> pd.DataFrame:
            return pd.read_parquet(dataset_dir("quick", 0) / FEEDER / f"{name}.parquet")

    states = tr_states(_Ctx(), "train").sample(150, random_state=0)
    params = DispatchParams()
    soc = np.random.default_rng(0).uniform(0.1, 0.95, len(states))
    t_s, demand = states["t_s"].to_numpy(), states["demand_kw"].to_numpy()
    y, _, _ = label(DispatchLP(params), params, t_s, demand, soc)  # the exact LP optimum
    x = svr_inputs(params, t_s, demand, soc)
    x_mean, x_scale = x[:100].mean(0), x[:100].std(0) + 1e-9
    for j in range(y.shape[1]):
        yz = (y[:100, j] - y[:100, j].mean()) / (y[:100, j].std() + 1e-9)
        svr = SVR(kernel="rbf", epsilon=0.05, C=10.0, gamma=0.2).fit((x[:100] - x_mean) / x_scale, yz)
        expected = surrogate_pipeline(svr, x_mean, x_scale).predict(x[100:])
        got = OnnxModel(rbf_svr_to_onnx(svr, x_mean, x_scale, tmp_path / f"svr{j}.onnx")).run_one(x[100:])[
            :, 0
        ]
        np.testing.assert_allclose(got, expected, atol=1e-4 * max(1.0, np.abs(expected).max()))


def test_energy_loss_polynomial_ridge(rows, tmp_path) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    from gridtwin.netopt.losses import INPUTS, design
    from training.models.energy_loss import fixed_scaler

    d = design(rows[list(INPUTS)].to_numpy(float))
    scale = np.maximum(np.abs(d).max(axis=0), 1e-9)
    target = rows["current_mean_a"].to_numpy()  # any real-valued column of the rows
    (da, db), (ta, _) = halves(d), halves(target)
    for degree in (1, 3):
        poly = PolynomialFeatures(degree, include_bias=False).fit(da / scale)
        reg = Ridge(alpha=1e-3).fit(poly.transform(da / scale), ta)
        pipe = make_pipeline(fixed_scaler(scale), poly, reg)
        got = graph(pipe, d.shape[1], tmp_path, f"ratio{degree}").run_one(db)[:, 0]
        expected = pipe.predict(db)
        np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_equipment_failure_boosters_and_treeshap(tmp_path) -> None:
    import xgboost as xgb

    from gridtwin.models._maintenance.failure import EQF_FEATURES
    from gridtwin.models._maintenance.treeshap import TreeShap
    from training.models._maintenance.xgb_paths import pack_paths
    from training.models.equipment_failure import fleet_frame

    th = fleet_frame(pd.read_parquet(dataset_dir("quick", 0) / FEEDER / "transformer_health.parquet"))
    x = th[list(EQF_FEATURES)].to_numpy(float)
    y = th["failure_within_horizon"].to_numpy().astype(int)
    x[np.random.default_rng(2).random(x.shape) < 0.02] = np.nan
    n = len(x) * 2 // 3
    names = list(EQF_FEATURES)
    monotone = "(" + ",".join("1" for _ in names) + ")"
    clf = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "min_child_weight": 20, "learning_rate": 0.05,
         "nthread": 1, "tree_method": "hist", "monotone_constraints": monotone},
        xgb.DMatrix(x[:n], y[:n], feature_names=names), 150,
    )  # fmt: skip
    got = OnnxModel(xgboost_to_onnx(clf, len(names), tmp_path / "clf.onnx")).run_one(x[n:], "probabilities")
    np.testing.assert_allclose(got[:, 1], clf.inplace_predict(x[n:]), atol=1e-5)

    dtf = th["days_to_failure"].to_numpy(float)
    dm = xgb.DMatrix(x[:n], feature_names=names)
    dm.set_float_info("label_lower_bound", np.where(np.isfinite(dtf[:n]), dtf[:n], 30.0).clip(0.5))
    dm.set_float_info("label_upper_bound", np.where(np.isfinite(dtf[:n]), dtf[:n], np.inf).clip(0.5))
    aft = xgb.train(
        {"objective": "survival:aft", "aft_loss_distribution": "normal", "aft_loss_distribution_scale": 1.2,
         "learning_rate": 0.05, "max_depth": 3, "nthread": 1, "tree_method": "hist"},
        dm, 150,
    )  # fmt: skip
    got = OnnxModel(xgboost_to_onnx(aft, len(names), tmp_path / "aft.onnx")).run_one(x[n:])[:, 0]
    np.testing.assert_allclose(got, aft.inplace_predict(x[n:]), rtol=1e-5)

    shap = TreeShap(pack_paths(clf), len(names))(x[n:])
    expected = clf.predict(xgb.DMatrix(x[n:], feature_names=names), pred_contribs=True)[:, :-1]
    np.testing.assert_allclose(shap, expected, atol=1e-5)


def test_demand_response_nearest_centroid_is_kmeans_predict(rows) -> None:
    from sklearn.cluster import KMeans

    from gridtwin.models.demand_response import nearest_centroid

    z = rows[["active_power_total_w", "reactive_power_total_var", "voltage_mean_pu"]].to_numpy(float)
    z = (z - z.mean(0)) / z.std(0)
    km = KMeans(n_clusters=4, n_init=5, random_state=0).fit(z[:2000])
    np.testing.assert_array_equal(nearest_centroid(z[2000:], km.cluster_centers_), km.predict(z[2000:]))


SERVED_ON_ONNX = (
    "voltage_sag",
    "harmonic_analysis",
    "phase_imbalance",
    "overload_risk",
    "equipment_failure",
    "energy_loss",
    "demand_response",
    "optimal_dispatch",
    "grid_stability",
)


@pytest.mark.parametrize("name", SERVED_ON_ONNX)
def test_serving_imports_no_training_library(name) -> None:
    """Serving loads ONNX Runtime, not the libraries that trained or converted the models."""
    import subprocess
    import sys

    code = (
        f"import sys, gridtwin.models.{name}; "
        "print(sorted(m for m in ('sklearn', 'xgboost', 'skl2onnx', 'onnxmltools', 'training') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
