"""Cleaning: non-finite rows, then outliers beyond 5 sigma per feature.

Outlier statistics (mean, std) come from the training split only and are then
applied to every split, so no information flows from validation/test into the
rule. Every dropped row is counted.
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import numpy as np

OUTLIER_SIGMA = 5.0


def finite_mask(X: np.ndarray) -> np.ndarray:
    return np.all(np.isfinite(X), axis=1)


def path_mask(path: np.ndarray) -> np.ndarray:
    """Rows of [price, vwap, std_dev] a label can be computed from: every value finite and
    positive (docs/RECORD_LAYOUT.md). A price of 0 or a negative std_dev would label silently."""
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(path) & (path > 0), axis=1)


def bad_path_value(_: int, v: float) -> bool:
    """The values path_mask refuses (for examples naming them)."""
    return not (np.isfinite(v) and v > 0)


def outlier_bounds(X_train: np.ndarray, k: float = OUTLIER_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    mean = X_train.mean(axis=0)
    std = X_train.std(axis=0)
    return mean - k * std, mean + k * std


def inlier_mask(X: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    lo, hi = bounds
    return np.all((lo <= X) & (hi >= X), axis=1)


def feature_stats(X: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """Per-feature training statistics recorded in the manifest (OOD checks)."""
    out = {}
    for j, name in enumerate(names):
        col = X[:, j]
        out[name] = {
            "mean": float(col.mean()),
            "std": float(col.std()),
            "min": float(col.min()),
            "max": float(col.max()),
            "q001": float(np.quantile(col, 0.001)),
            "q999": float(np.quantile(col, 0.999)),
        }
    return out
