"""Probability calibration on the validation split (later than train, earlier than test).

CalibratedClassifierCV over the already-fitted classifier (FrozenEstimator),
fitted on the time-ordered validation split, so that a threshold of 0.65
means "about 65 % of such trades revert". The calibrator wraps the
classifier *inside* the pipeline (after the scaler): that is the shape
skl2onnx converts faithfully.
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from train.choices import CALIBRATIONS

METHODS = CALIBRATIONS


def calibrate(pipeline: Pipeline, X_val: np.ndarray, y_val: np.ndarray, method: str) -> Pipeline:  # noqa: N803
    if method == "none":
        return pipeline
    if method not in METHODS:
        raise ValueError(f"unknown calibration {method!r}; choose from {', '.join(METHODS)}")
    scaler = pipeline.named_steps["scaler"]
    clf = pipeline.named_steps["clf"]
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method=method)
    cal.fit(scaler.transform(X_val), y_val)
    # skl2onnx knows the wrapped classifier, not FrozenEstimator; the frozen
    # wrapper only delegates, so unwrapping leaves predictions unchanged.
    for cc in cal.calibrated_classifiers_:
        cc.estimator = clf
    cal.estimator = clf
    return Pipeline([("scaler", scaler), ("clf", cal)])
