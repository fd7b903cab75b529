"""The figures of one group of scored, labelled candidates at a decision threshold.

NaN-safe: a group with one class has no AUC, a group with no approvals no
precision; both are None (null in JSON), never an exception.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

ECE_BINS = 10
_EPS = 1e-7  # clip for log-loss: float32 probabilities can be exactly 0 or 1


@dataclass
class Figures:
    rows: int
    base_rate: float | None
    approvals: int
    approval_rate: float | None
    precision: float | None  # share of approvals whose outcome was a reversion
    expected_precision: float | None  # the model's mean p over its approvals
    ece: float | None
    auc: float | None
    log_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b else None


def ece_equal_mass(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float | None:
    """Expected calibration error over equal-count bins of p (not equal-width:
    a gate's probabilities crowd near the base rate, equal-width bins up high
    would be almost empty): Σ_b n_b/N · |mean y_b - mean p_b|."""
    n = len(y)
    if n == 0:
        return None
    order = np.argsort(p, kind="stable")
    b = (np.arange(n) * min(bins, n)) // n  # bin of each rank, sizes differ by at most one
    sy = np.bincount(b, weights=y[order].astype(np.float64))
    sp = np.bincount(b, weights=p[order].astype(np.float64))
    return float(np.sum(np.abs(sy - sp)) / n)


def auc_or_none(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) == 0 or np.all(y == y[0]):
        return None
    # Imported here: scikit-learn takes a second to import, and `train --help`,
    # whose parser reads the monitor's defaults, must not pay it.
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Each row's log-loss (float64; p clipped away from 0 and 1)."""
    q = np.clip(p.astype(np.float64), _EPS, 1 - _EPS)
    return -np.where(y == 1, np.log(q), np.log1p(-q))


def log_loss(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(y) == 0:
        return None
    return float(np.mean(row_log_loss(y, p)))


def figures(y: np.ndarray, p: np.ndarray, approved: np.ndarray) -> Figures:
    """y: 0/1 outcomes, p: the model's probabilities, approved: p ≥ the row's threshold."""
    n = len(y)
    a = int(approved.sum())
    return Figures(
        rows=n,
        base_rate=_ratio(float(y.sum()), n),
        approvals=a,
        approval_rate=_ratio(a, n),
        precision=_ratio(float(y[approved].sum()), a),
        expected_precision=_ratio(float(p[approved].astype(np.float64).sum()), a),
        ece=ece_equal_mass(y, p),
        auc=auc_or_none(y, p),
        log_loss=log_loss(y, p),
    )


def clean(v: Any) -> Any:
    """NaN → None, recursively: JSON has no NaN."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [clean(x) for x in v]
    return v
