"""A StandardScaler + classifier pipeline for any family of train/model/families.py.

The scaler is always the first step, so the exported ONNX graph takes raw
features (the sidecar never scales anything itself).
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from train.model import families


def exact_scaler(X: np.ndarray) -> StandardScaler:
    """A StandardScaler whose arithmetic ONNX reproduces bit for bit.

    ONNX's Scaler computes (x - offset) · scale in float32; scikit-learn computes
    (x - mean) / std in float64 and rounds. With a float32 mean and a power-of-two
    std both round exactly once, identically, so a tree split on a scaled value
    cannot flip between scikit-learn and onnxruntime. (A power-of-two std is
    within √2 of the true one: still a standardisation.)
    """
    sc = StandardScaler().fit(X)
    sc.mean_ = sc.mean_.astype(np.float32).astype(np.float64)
    sc.scale_ = np.exp2(np.round(np.log2(sc.scale_)))
    return sc


def fit_pipeline(
    family: str, params: dict[str, Any], seed: int, X: np.ndarray, y: np.ndarray
) -> Pipeline:
    scaler = exact_scaler(X)
    # One thread: on a shared 2-core machine HistGradientBoosting's OpenMP pool
    # (and BLAS for the MLP) otherwise oversubscribes and runs ~30x slower.
    with threadpool_limits(1):
        clf = families.get(family).build(params, seed).fit(scaler.transform(X), y)
    return Pipeline([("scaler", scaler), ("clf", clf)])
