"""The manifest's `reference` block: what live traffic is compared with for drift.

Per feature, decile bins of the training split (the data the model learnt from)
and the share of training rows in each; plus the approval rate of the model on
the test split at the default threshold. The predictor (go/internal/drift)
bins live values with exactly the rule below, so the two must stay in step.

Binning rule (docs/MODEL_FORMAT.md, "reference"): edges are strictly ascending;
bin i holds edges[i] <= x < edges[i+1], the last bin also holds x == max. A
feature with ties (a discrete-ish one, where several deciles coincide) gets
its duplicate edges merged, so fewer than 10 bins, each with its true share;
a constant feature gets the two edges [v, v] and one bin of share 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DECILES = np.linspace(0.0, 1.0, 11)


def feature_bins(values: np.ndarray) -> dict[str, list[float]]:
    """Decile edges and training shares of one feature's training column."""
    # The live side sees float32 features: bin the float32 values, so a value
    # that sits exactly on an edge falls in the same bin on both sides.
    x = np.asarray(values, dtype=np.float32).astype(np.float64)
    if x.size == 0:
        raise ValueError("reference bins need at least one training row")
    edges = np.unique(np.quantile(x, DECILES, method="inverted_cdf"))
    if edges.size == 1:
        return {"edges": [float(edges[0])] * 2, "fractions": [1.0]}
    edges[0], edges[-1] = x.min(), x.max()
    counts = np.bincount(bin_index(edges, x), minlength=edges.size - 1)
    return {
        "edges": [float(e) for e in edges],
        "fractions": [float(c) / x.size for c in counts],
    }


def bin_index(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The bin of each value: the number of interior edges <= x (clipped at both ends)."""
    return np.searchsorted(edges[1:-1], x, side="right")


def build_reference(
    features: list[str],
    x_train: np.ndarray,
    p_test: np.ndarray,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """The `reference` block from the training matrix and the test probabilities,
    approval counted at the manifest's default threshold."""
    threshold = float(manifest["default_threshold"])
    return {
        "features": {name: feature_bins(x_train[:, i]) for i, name in enumerate(features)},
        "approval_rate": float(np.mean(np.asarray(p_test) >= threshold)) if len(p_test) else 0.0,
        "approval_threshold": float(threshold),
        "rows": int(x_train.shape[0]),
    }
