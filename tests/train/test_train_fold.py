"""Cheaper tree-ensemble graphs (train/onnx/fold.py) give scikit-learn's probability exactly."""
# ruff: noqa: N803, N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import TimeSeriesSplit
from sklearn.pipeline import Pipeline

from train.model.calibrate import calibrate
from train.model.models import fit_pipeline
from train.onnx import export
from train.onnx.fold import sigmoid_to_fold

CALIBRATION_OPS = {"Exp", "Div", "Mul", "Add", "ArrayFeatureExtractor", "Concat", "Sum"}


def _data(seed: int = 0, n: int = 6000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n) > 0).astype(int)
    return X, y


def _onnx_p(model, X: np.ndarray) -> np.ndarray:
    """The graph's probabilities as [N]; its output must be [N] or [N, 1] (MODEL_FORMAT.md)."""
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = sess.get_outputs()
    assert out.name == "probability" and out.type == "tensor(float)"
    assert len(out.shape) == 1 or (len(out.shape) == 2 and out.shape[1] == 1)
    p = sess.run(None, {"features": X})[0]
    assert p.dtype == np.float32 and p.shape == (len(X), *out.shape[1:])
    return p.reshape(-1)


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("gbm", {"n_estimators": 60, "max_depth": 3, "subsample": 0.8}),
        ("hgb", {"max_iter": 60, "max_leaf_nodes": 15}),
    ],
)
@pytest.mark.parametrize("flip", [False, True], ids=["ordinary", "inverted-calibrator"])
def test_sigmoid_calibration_is_folded_into_the_leaves_with_sklearn_parity(family, params, flip):
    X, y = _data()
    pipe = fit_pipeline(family, params, 0, X[:3000], y[:3000])
    # Calibrating on flipped labels gives A > 0: the fold must get the sign right too.
    y_cal = 1 - y[3000:4500] if flip else y[3000:4500]
    cal = calibrate(pipe, X[3000:4500], y_cal, "sigmoid")
    a = sigmoid_to_fold(cal)[1]
    assert (a > 0) == flip
    model = export.to_onnx_fp32(cal, 3, family)
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["TreeEnsembleRegressor", "Sigmoid"]
    props = {p.key: p.value for p in model.metadata_props}
    assert props.keys() == {export.CALIBRATION_PROP, export.ENSEMBLE_PROP, export.SCALER_PROP}
    assert "folded" in export.graph_note(model)
    p = _onnx_p(model, X[4500:])
    assert np.max(np.abs(p - cal.predict_proba(X[4500:])[:, 1])) < 2e-6


@pytest.mark.parametrize("family", ["gbm", "hgb", "xgb"])
def test_uncalibrated_boosting_becomes_a_regressor_plus_sigmoid_with_parity(family):
    X, y = _data(1)
    params = {"max_iter": 40} if family == "hgb" else {"n_estimators": 40, "max_depth": 3}
    pipe = fit_pipeline(family, params, 0, X[:4000], y[:4000])
    model = export.to_onnx_fp32(pipe, 3, family)
    ops = [n.op_type for n in model.graph.node]
    # xgb splits are BRANCH_LT: its Scaler stays (train/onnx/fold.py folds BRANCH_LEQ only).
    assert ops == (["Scaler"] if family == "xgb" else []) + ["TreeEnsembleRegressor", "Sigmoid"]
    (out,) = model.graph.output
    assert [d.dim_value for d in out.type.tensor_type.shape.dim] == [0, 1]  # [N, 1]
    p = _onnx_p(model, X[4000:])
    assert np.max(np.abs(p - pipe.predict_proba(X[4000:])[:, 1])) < 2e-6


@pytest.mark.parametrize(
    ("family", "params"),
    [("xgb", {"n_estimators": 40, "max_depth": 3}), ("rf", {"n_estimators": 20})],
)
def test_a_calibrator_fed_probabilities_is_not_folded_and_keeps_parity(family, params):
    # XGBClassifier and RandomForest have no decision_function: scikit-learn feeds
    # the calibrator predict_proba, which is not linear in the raw score.
    X, y = _data(2)
    pipe = fit_pipeline(family, params, 0, X[:3000], y[:3000])
    cal = calibrate(pipe, X[3000:4500], y[3000:4500], "sigmoid")
    assert sigmoid_to_fold(cal) is None
    model = export.to_onnx_fp32(cal, 3, family)
    assert CALIBRATION_OPS & {n.op_type for n in model.graph.node}
    props = {p.key for p in model.metadata_props}
    # RandomForest splits are BRANCH_LEQ: only its Scaler is folded; xgb's are BRANCH_LT.
    assert props == ({export.SCALER_PROP} if family == "rf" else set())
    p = _onnx_p(model, X[4500:])
    assert np.max(np.abs(p - cal.predict_proba(X[4500:])[:, 1])) < 2e-6


def test_an_ensemble_of_calibrators_is_not_folded():
    # Averaging several sigmoids is no single sigmoid: the fold must refuse it.
    X, y = _data(3)
    pipe = fit_pipeline("gbm", {"n_estimators": 30}, 0, X[:4000], y[:4000])
    scaler, clf = pipe.named_steps["scaler"], pipe.named_steps["clf"]
    cal = CalibratedClassifierCV(clf, method="sigmoid", cv=TimeSeriesSplit(3), ensemble=True)
    cal.fit(scaler.transform(X[:4000]), y[:4000])
    assert len(cal.calibrated_classifiers_) == 3
    assert sigmoid_to_fold(Pipeline([("scaler", scaler), ("clf", cal)])) is None


@pytest.mark.parametrize(
    ("family", "params", "tol"),
    [
        # Raw-score input: float32 tree sums (~1e-6) times isotonic slopes (~100s).
        ("gbm", {"n_estimators": 60, "max_depth": 3}, 1e-4),
        ("hgb", {"max_iter": 60, "max_leaf_nodes": 15}, 1e-4),
        # Probability input that onnxruntime reproduces to the last bit: near exact.
        ("rf", {"n_estimators": 20}, 2e-6),
    ],
)
def test_isotonic_calibration_interpolates_like_sklearn(family, params, tol):
    X, y = _data(4)
    pipe = fit_pipeline(family, params, 0, X[:3000], y[:3000])
    cal = calibrate(pipe, X[3000:4500], y[3000:4500], "isotonic")
    model = export.to_onnx_fp32(cal, 3, family)
    assert "interpolation" in export.graph_note(model)
    X_test = np.concatenate([X[4500:], [[-50, 50, -50], [50, -50, 50]]]).astype(np.float32)
    p, ref = _onnx_p(model, X_test), cal.predict_proba(X_test)[:, 1]
    assert np.max(np.abs(p - ref)) < tol
    # Clipped at both ends, as np.interp: extreme inputs give the end breakpoints' values.
    iso = cal.steps[-1][1].calibrated_classifiers_[0].calibrators[0]
    assert p.min() >= np.float32(iso.y_thresholds_[0]) and p.max() <= np.float32(
        iso.y_thresholds_[-1])  # fmt: skip
