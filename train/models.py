"""Model families: a StandardScaler + classifier pipeline and its search grids.

The scaler is always the first step, so the exported ONNX graph takes raw
features (the sidecar never scales anything itself).
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from train.choices import FAMILIES

# The reference grid of the issue, searched in full by `--search grid`.
GBM_GRID: dict[str, list[Any]] = {
    "n_estimators": [50, 100, 200],
    "max_depth": [3, 5, 7],
    "learning_rate": [0.01, 0.1, 0.2],
    "subsample": [0.8, 0.9, 1.0],
}

GRIDS: dict[str, dict[str, list[Any]]] = {
    "gbm": GBM_GRID,
    "hgb": {
        "max_iter": [100, 200, 400],
        "learning_rate": [0.03, 0.1, 0.2],
        "max_leaf_nodes": [15, 31, 63],
        "l2_regularization": [0.0, 1.0],
    },
    "rf": {
        "n_estimators": [100, 200],
        "max_depth": [6, 10, None],
        "min_samples_leaf": [5, 20, 50],
    },
    "xgb": {
        "n_estimators": [100, 200, 400],
        "max_depth": [3, 5, 7],
        "learning_rate": [0.03, 0.1, 0.2],
        "subsample": [0.8, 1.0],
    },
    "mlp": {
        "hidden_layer_sizes": [(32,), (32, 16), (64, 32)],
        "alpha": [1e-4, 1e-3, 1e-2],
        "learning_rate_init": [1e-3, 3e-3],
    },
}


def make_classifier(family: str, params: dict[str, Any], seed: int) -> ClassifierMixin:
    if family == "gbm":
        return GradientBoostingClassifier(random_state=seed, **params)
    if family == "hgb":
        return HistGradientBoostingClassifier(random_state=seed, early_stopping=False, **params)
    if family == "rf":
        # n_jobs=1: the machine is shared, and the search already loops over fits.
        return RandomForestClassifier(random_state=seed, n_jobs=1, **params)
    if family == "xgb":
        from xgboost import XGBClassifier

        return XGBClassifier(
            random_state=seed, n_jobs=1, tree_method="hist", eval_metric="logloss", **params
        )
    if family == "mlp":
        return MLPClassifier(
            random_state=seed, max_iter=200, early_stopping=True, n_iter_no_change=10, **params
        )
    raise ValueError(f"unknown model family {family!r}; choose from {', '.join(FAMILIES)}")


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
        clf = make_classifier(family, params, seed).fit(scaler.transform(X), y)
    return Pipeline([("scaler", scaler), ("clf", clf)])
