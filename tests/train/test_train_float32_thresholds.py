"""Split thresholds in the ONNX graph: floored to float32, so every float32 input
takes the branch scikit-learn or LightGBM takes (docs/TRAINING.md, "Model families")."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from train.model.families import floor_to_float32
from train.onnx import export


def _lgbm() -> Any:
    import lightgbm as lgb

    return lgb.LGBMClassifier(n_estimators=3, min_child_samples=5, min_data_in_bin=1, verbose=-1)


def _hgb() -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=3, min_samples_leaf=5)


@pytest.mark.parametrize(("family", "build"), [("lgbm", _lgbm), ("hgb", _hgb)])
def test_a_split_between_adjacent_float32_values_keeps_its_branch(family, build):
    """Both libraries split two adjacent float32 values at their double midpoint; rounded to
    the nearest float32 that midpoint is the upper value, which then went down the wrong
    branch in the graph."""
    a = np.float32(1) + np.float32(2**-23)
    b = np.nextafter(a, np.float32(2))  # the next float32 up; their midpoint rounds up to b
    assert float(np.float32((float(a) + float(b)) / 2)) == float(b)  # the trap is set
    X = np.r_[np.full(200, a), np.full(200, b)].astype(np.float32).reshape(-1, 1)
    X = np.hstack([X, np.zeros_like(X), np.zeros_like(X)])
    y = np.r_[np.zeros(200), np.ones(200)].astype(int)
    scale = StandardScaler(with_mean=False, with_std=False)
    pipe = Pipeline([("scale", scale), ("clf", build())]).fit(X, y)
    model = export.to_onnx_fp32(pipe, 3, family)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    q = X[[0, -1]]
    got = sess.run([export.OUTPUT_NAME], {export.INPUT_NAME: q})[0].reshape(-1)
    want = pipe.predict_proba(q)[:, 1]
    assert want[1] > want[0]  # the library itself tells a from b
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_floor_to_float32():
    third = 1 / 3
    f = floor_to_float32(third)
    assert f <= third and float(np.float32(f)) == f
    assert float(np.nextafter(np.float32(f), np.float32(1))) > third  # the largest such
    assert floor_to_float32(0.5) == 0.5  # already a float32
    assert floor_to_float32(-third) == -float(np.float32(third))  # nearest is below: kept
    assert floor_to_float32(1e300) == float(np.finfo(np.float32).max)
