"""Test-split metrics at the bot's decision threshold, and how far to trust its probabilities.

The bot reads p >= 0.65 as "at least a 65 % chance of a reversion", so the
probabilities are judged where it acts: ECE over equal-mass bins (every bin
holds the same number of rows, so the sparse top of the range is not hidden
in one huge bin), a reliability table, and per approve threshold the mean p
of the approved records against their observed rate with a Wilson 95 %
interval (Wilson rather than the normal approximation: it stays inside [0, 1]
and is honest for the few approvals of a high threshold).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.metrics import (
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

ECE_BINS = 10
# Thresholds at which approved-trade calibration is reported (a trader's range).
APPROVE_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75)
Z95 = 1.959963984540054
P_CLIP = 1e-6  # an isotonic 0 or 1 would make log-loss infinite; this bounds its penalty


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion k/n (None when n = 0)."""
    if n == 0:
        return None
    ph = k / n
    d = 1 + z * z / n
    c = (ph + z * z / (2 * n)) / d
    h = z * math.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / d
    return max(0.0, c - h), min(1.0, c + h)


def equal_mass_bins(p: np.ndarray, bins: int = ECE_BINS) -> list[np.ndarray]:
    """Row indices of `bins` groups of (nearly) equal size, in increasing p."""
    order = np.argsort(p, kind="stable")
    return [b for b in np.array_split(order, min(bins, len(p))) if len(b)]


def reliability(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    out = []
    for b in equal_mass_bins(p, bins):
        k, n = int(y[b].sum()), len(b)
        lo, hi = wilson(k, n) or (math.nan, math.nan)
        out.append({"rows": n, "mean_p": float(p[b].mean()), "observed": k / n,
                    "ci_low": lo, "ci_high": hi})  # fmt: skip
    return out


def ece(y: np.ndarray, p: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error over equal-mass bins: Σ n_b/N · |mean p_b - rate_b|."""
    n = len(p)
    return float(sum(len(b) / n * abs(p[b].mean() - y[b].mean()) for b in equal_mass_bins(p, bins)))


def approved_calibration(
    y: np.ndarray, p: np.ndarray, thresholds: tuple[float, ...] = APPROVE_THRESHOLDS
) -> list[dict[str, Any]]:
    """Per threshold t, the approved records (p >= t): mean p vs observed rate, Wilson 95 %."""
    out = []
    for t in thresholds:
        sel = p >= t
        n = int(sel.sum())
        k = int(y[sel].sum())
        ci = wilson(k, n)
        out.append({
            "threshold": t, "approved": n,
            "mean_p": float(p[sel].mean()) if n else None,
            "observed": k / n if n else None,
            "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
            "overconfidence": float(p[sel].mean()) - k / n if n else None,
        })  # fmt: skip
    return out


def proper_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Log-loss and Brier (proper scoring rules), ECE, and AUC as context."""
    pc = np.clip(p, P_CLIP, 1 - P_CLIP)
    return {
        "log_loss": float(log_loss(y, pc, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": ece(y, p),
        "auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else math.nan,
    }


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = p >= threshold
    rel = reliability(y, p)
    scores = proper_scores(y, p)
    return {
        "rows": len(y),
        "auc": scores["auc"],
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "approval_rate": float(pred.mean()),
        "approved": int(pred.sum()),
        "max_p": float(p.max()) if len(p) else None,
        "base_rate": float(np.mean(y)),
        "brier": scores["brier"],
        "log_loss": scores["log_loss"],
        "ece": scores["ece"],
        "ece_bins": f"{ECE_BINS} equal-mass",
        "threshold": threshold,
        # Reliability: observed positive rate per equal-mass bin of predicted probability.
        "reliability": {
            "mean_predicted": [round(r["mean_p"], 4) for r in rel],
            "observed_rate": [round(r["observed"], 4) for r in rel],
            "rows": [r["rows"] for r in rel],
            "ci_low": [round(r["ci_low"], 4) for r in rel],
            "ci_high": [round(r["ci_high"], 4) for r in rel],
        },
        "approved_calibration": approved_calibration(y, p),
        "interval": "Wilson 95 %",
    }
