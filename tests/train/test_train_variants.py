"""FP16/INT8 variants: they load in onnxruntime and pass the gate, or are rejected with a reason."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from train.fit import choose_serve_variant
from train.model.models import fit_pipeline
from train.onnx import export


def _data(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 1] + rng.normal(size=n) > 0).astype(int)
    return X, y


@pytest.mark.parametrize(
    ("family", "params"),
    [
        ("gbm", {"n_estimators": 30, "max_depth": 3}),
        ("mlp", {"hidden_layer_sizes": (64, 32)}),
    ],
)
def test_variants_load_and_pass_or_are_rejected_with_reason(tmp_path, family, params):
    X, y = _data()
    pipe = fit_pipeline(family, params, 0, X[:3000], y[:3000])
    model = export.to_onnx_fp32(pipe, 3, family)
    notes, converted = export.write_variants(model, tmp_path)
    p_ref = export.predict(export.session(tmp_path / "model.onnx"), X[3000:])
    np.testing.assert_allclose(p_ref, pipe.predict_proba(X[3000:])[:, 1], atol=1e-5)
    for name, fname in export.VARIANT_FILES.items():
        check, p = export.compare(name, tmp_path / fname, p_ref, X[3000:], y[3000:], 0.65,
                                  0.995, 0.005)  # fmt: skip
        if check.accepted:
            assert p is not None and check.agreement >= 0.995 and abs(check.auc_delta) <= 0.005
        else:
            assert check.reason
    if family == "mlp":  # the family where reduced precision really changes the graph
        assert converted["fp16"] > 0 and converted["int8"] > 0
        assert (tmp_path / "model.fp16.onnx").stat().st_size < 0.7 * (
            tmp_path / "model.onnx").stat().st_size  # fmt: skip
    else:  # a tree ensemble: nothing to convert, and the note says so
        assert converted["fp16"] == 0 and converted["int8"] == 0
        assert "same graph as FP32" in notes["fp16"]


def test_a_variant_that_does_not_load_is_rejected_with_the_error(tmp_path):
    bad = tmp_path / "model.fp16.onnx"
    bad.write_bytes(b"not an onnx graph")
    check, p = export.compare("fp16", bad, np.zeros(3), np.zeros((3, 3), np.float32),
                              np.array([0, 1, 0]), 0.65, 0.995, 0.005)  # fmt: skip
    assert not check.accepted and "does not load" in check.reason and p is None


def test_gate_rejects_a_variant_that_disagrees(tmp_path):
    X, y = _data(1)
    pipe = fit_pipeline("gbm", {"n_estimators": 20}, 0, X, y)
    export.write_variants(export.to_onnx_fp32(pipe, 3, "gbm"), tmp_path)
    p_true = export.predict(export.session(tmp_path / "model.onnx"), X)
    # Compare against a reference shifted across the threshold: agreement must fail.
    check, _ = export.compare("int8", tmp_path / "model.int8.onnx", np.clip(p_true + 0.3, 0, 1),
                              X, y, 0.65, 0.995, 0.005)  # fmt: skip
    assert not check.accepted and "agreement" in check.reason


def test_exact_scaler_keeps_onnx_tree_splits_identical_to_sklearn():
    # Wide-magnitude features (a BTC price) are where a 1-ulp scaling difference
    # between scikit-learn (float64) and onnxruntime (float32) flips tree splits.
    rng = np.random.default_rng(5)
    n = 20000
    x = np.column_stack(
        [60000 + rng.normal(0, 30, n), rng.uniform(0.001, 0.2, n), rng.normal(size=n)]
    )
    x = x.astype(np.float32)
    y = (x[:, 0] - 60000 + 100 * x[:, 1] + 10 * rng.normal(size=n) > 0).astype(int)
    pipe = fit_pipeline("hgb", {"max_iter": 100, "max_leaf_nodes": 63}, 0, x[:15000], y[:15000])
    model = export.to_onnx_fp32(pipe, 3, "hgb")
    sess = ort.InferenceSession(model.SerializeToString())
    p_onnx = sess.run(None, {"features": x[15000:]})[0].reshape(-1)  # [N, 1]
    assert np.max(np.abs(p_onnx - pipe.predict_proba(x[15000:])[:, 1])) < 1e-6


def test_an_unchanged_variant_is_not_served_because_of_timer_noise():
    def vc(name, lat, converted, accepted=True):
        return export.VariantCheck(name, name, accepted, None, 1, latency_us=lat,
                                   converted_nodes=converted)  # fmt: skip

    same = {"fp32": vc("fp32", 10.0, 0), "fp16": vc("fp16", 5.0, 0), "int8": vc("int8", 5.0, 0)}
    assert choose_serve_variant(same) == "fp32"
    real = {"fp32": vc("fp32", 10.0, 0), "fp16": vc("fp16", 7.0, 12), "int8": vc("int8", 9.5, 3)}
    assert choose_serve_variant(real) == "fp16"
    none = {k: vc(k, 1.0, 0, accepted=False) for k in ("fp32", "fp16", "int8")}
    assert choose_serve_variant(none) is None
