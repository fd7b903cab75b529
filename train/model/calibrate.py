"""Probability calibration: a calibrator between the classifier's score and p.

The calibrator wraps the classifier *inside* the pipeline (after the scaler):
CalibratedClassifierCV over the already-fitted classifier (FrozenEstimator),
the shape skl2onnx converts faithfully. A threshold of 0.65 must mean "about
65 % of such trades revert", so the calibrator must see enough held-out data
from enough market periods: one validation period (20 % of the data) carries
its own base rate, and a calibrator fitted on it alone carries that period's
rate into the model (measured: fitted on 4,000 validation rows of a 20,000-row
sample, gbm + sigmoid promised 0.76 where 0.68 reverted on 200,000 fresh rows).

So the calibration set is cross-fitted: the out-of-fold scores of the purged,
time-ordered CV folds over the training split (each scored by a model that
never saw it, trained with the chosen parameters on the fold's earlier rows)
plus the final model's scores on the validation split. The method is chosen
on validation by a proper scoring rule: each of none, sigmoid and isotonic is
fitted on the out-of-fold scores alone and scored by log-loss on the
validation split (Brier, ECE and AUC kept as context); `auto` takes the lowest
log-loss, and the winner is refitted on out-of-fold + validation. With too
few folds or positives for out-of-fold scores, the validation split is
cross-fitted in two time-ordered halves instead.
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline

from train.choices import CALIBRATIONS
from train.model.metrics import proper_scores

METHODS = CALIBRATIONS
FITTED = ("sigmoid", "isotonic", "none")  # what `auto` chooses among
HALVES = "2 time-ordered halves of the validation split, each calibrated on the other"
OOF = (
    "fitted on out-of-fold scores of the purged CV folds over the training split, scored "
    "on the validation split"
)


@dataclass
class Calibration:
    """The chosen method and the out-of-fold figures of every method tried."""

    method: str
    requested: str
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    ranked: list[str] = field(default_factory=list)  # best first (log-loss)
    scheme: str = HALVES
    # Out-of-fold (score, label) of the training split's folds; None: validation only.
    pool: tuple[np.ndarray, np.ndarray] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "requested": self.requested,
            "chosen_on": "validation log-loss, cross-fitted" if self.requested == "auto" else None,
            "scored": self.scheme if self.candidates else None,
            "fitted_on": "out-of-fold training scores + validation"
            if self.pool is not None
            else "validation",
            "fitted_rows": (len(self.pool[1]) if self.pool is not None else 0) or None,
            "candidates": self.candidates,
        }


def raw_score(clf, Z: np.ndarray) -> np.ndarray:
    """What CalibratedClassifierCV feeds its calibrator: decision_function, else P(1)."""
    if hasattr(clf, "decision_function"):
        return np.asarray(clf.decision_function(Z), dtype=np.float64)
    return clf.predict_proba(Z)[:, 1]


def out_of_fold(
    family: str, params: dict[str, Any], seed: int, X: np.ndarray, y: np.ndarray,
    ts_ns: np.ndarray, n_splits: int, embargo_ns: int,
) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """(scores, labels) of the purged time-ordered folds' test blocks, each scored by a
    model fitted with `params` on its fold's training rows (None: no usable fold)."""
    from train.data.split import PurgedTimeSeriesSplit
    from train.model.models import fit_pipeline

    scores, labels = [], []
    for tr, te in PurgedTimeSeriesSplit(ts_ns, n_splits, embargo_ns).split(X):
        if len(np.unique(y[tr])) < 2:
            continue
        m = fit_pipeline(family, params, seed, X[tr], y[tr])
        scores.append(raw_score(m.named_steps["clf"], m.named_steps["scaler"].transform(X[te])))
        labels.append(y[te])
    if not scores or len(np.unique(np.concatenate(labels))) < 2:
        return None
    return np.concatenate(scores), np.concatenate(labels)


def _calibrator(method: str, s: np.ndarray, y: np.ndarray) -> Any:
    """The calibrator CalibratedClassifierCV builds for `method`, fitted on scores s."""
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    cal = _SigmoidCalibration() if method == "sigmoid" else IsotonicRegression(out_of_bounds="clip")
    return cal.fit(s, y)


def calibrate(
    pipeline: Pipeline,
    X_val: np.ndarray,
    y_val: np.ndarray,
    method: str,
    pool: tuple[np.ndarray, np.ndarray] | None = None,
) -> Pipeline:
    """The pipeline with `method` fitted on (X_val, y_val) — plus the out-of-fold
    (scores, labels) `pool` when given; `none` returns it unchanged, `auto` uses the
    method `choose` ranks first."""
    if method == "auto":
        method = choose(pipeline, X_val, y_val, "auto", pool).method
    if method == "none":
        return pipeline
    if method not in FITTED:
        raise ValueError(f"unknown calibration {method!r}; choose from {', '.join(FITTED)}")
    scaler = pipeline.named_steps["scaler"]
    clf = pipeline.named_steps["clf"]
    cal = CalibratedClassifierCV(FrozenEstimator(clf), method=method)
    cal.fit(scaler.transform(X_val), y_val)
    # skl2onnx knows the wrapped classifier, not FrozenEstimator; the frozen
    # wrapper only delegates, so unwrapping leaves predictions unchanged.
    for cc in cal.calibrated_classifiers_:
        cc.estimator = clf
    cal.estimator = clf
    if pool is not None:
        # Same calibrator, refitted on more periods: out-of-fold training scores + validation.
        s_all = np.concatenate([pool[0], raw_score(clf, scaler.transform(X_val))])
        y_all = np.concatenate([pool[1], y_val])
        for cc in cal.calibrated_classifiers_:
            cc.calibrators = [_calibrator(method, s_all, y_all)]
    return Pipeline([("scaler", scaler), ("clf", cal)])


def _halves(y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Two time-ordered halves (rows are sorted by time), each with both classes."""
    n = len(y)
    a, b = np.arange(n // 2), np.arange(n // 2, n)
    if any(len(np.unique(y[ix])) < 2 for ix in (a, b)):
        return None
    return [(a, b), (b, a)]


def cross_fitted(
    pipeline: Pipeline, X_val: np.ndarray, y_val: np.ndarray, method: str
) -> np.ndarray | None:
    """Out-of-fold calibrated probabilities of every validation row (None: too few positives)."""
    if method == "none":
        return pipeline.predict_proba(X_val)[:, 1]
    halves = _halves(y_val)
    if halves is None:
        return None
    p = np.empty(len(y_val))
    for fit_ix, score_ix in halves:
        cal = calibrate(pipeline, X_val[fit_ix], y_val[fit_ix], method)
        p[score_ix] = cal.predict_proba(X_val[score_ix])[:, 1]
    return p


def choose(
    pipeline: Pipeline,
    X_val: np.ndarray,
    y_val: np.ndarray,
    requested: str,
    pool: tuple[np.ndarray, np.ndarray] | None = None,
) -> Calibration:
    """Score none/sigmoid/isotonic on validation, each fitted without it; `auto` ranks by
    log-loss.

    With a `pool` of out-of-fold training scores, each method is fitted on it and
    scored on the validation split; without, the validation split is cross-fitted
    in halves. A named method is still scored (the report shows what the others
    would have given) but is always the one used.
    """
    cands: dict[str, dict[str, float]] = {}
    s_val = None
    if pool is not None:
        s_val = raw_score(
            pipeline.named_steps["clf"], pipeline.named_steps["scaler"].transform(X_val)
        )
    for m in FITTED:
        if pool is not None and s_val is not None:
            if m == "none":
                p = pipeline.predict_proba(X_val)[:, 1]
            else:
                p = np.clip(_calibrator(m, *pool).predict(s_val), 0.0, 1.0)
        else:
            p = cross_fitted(pipeline, X_val, y_val, m)
        if p is not None:
            cands[m] = proper_scores(y_val, p)
    ranked = sorted(cands, key=lambda m: (cands[m]["log_loss"], FITTED.index(m)))
    if requested != "auto":
        ranked = [requested, *[m for m in ranked if m != requested]]
    return Calibration(
        ranked[0] if ranked else "none", requested, cands, ranked or ["none"],
        OOF if pool is not None else HALVES, pool,
    )  # fmt: skip
