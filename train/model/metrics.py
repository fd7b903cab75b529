"""Test-split metrics at the bot's decision threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, f1_score, precision_score, recall_score, roc_auc_score


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = p >= threshold
    frac_pos, mean_pred = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {
        "rows": len(y),
        "auc": float(roc_auc_score(y, p)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "approval_rate": float(pred.mean()),
        "base_rate": float(np.mean(y)),
        "brier": float(brier_score_loss(y, p)),
        "threshold": threshold,
        # Reliability: observed positive rate per bin of predicted probability.
        "reliability": {
            "mean_predicted": [round(float(v), 4) for v in mean_pred],
            "observed_rate": [round(float(v), 4) for v in frac_pos],
        },
    }
