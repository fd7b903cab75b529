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

from train.labels.labeler import NS
from train.model.metrics import proper_scores

FITTED = ("sigmoid", "isotonic", "none")  # what `auto` chooses among
# The proper scoring rule that ranks calibrations (and families, train/publish/run.py).
RULE = "log_loss"
HALVES = "2 time-ordered halves of the validation split, each calibrated on the other"
OOF = (
    "leave one period out over the out-of-fold blocks of the purged CV folds and the "
    "validation split"
)


@dataclass
class Calibration:
    """The chosen method and the out-of-fold figures of every method tried."""

    method: str
    requested: str
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    ranked: list[str] = field(default_factory=list)  # best first (RULE)
    scheme: str = HALVES
    fitted_rows: int | None = None
    # Out-of-fold rows of the training split's folds; None: validation only.
    pool: Pool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "requested": self.requested,
            "chosen_on": f"the lowest {RULE}" if self.requested == "auto" else None,
            "scored": self.scheme if self.candidates else None,
            "fitted_on": "out-of-fold training scores + validation"
            if self.pool is not None
            else "validation",
            "fitted_rows": self.fitted_rows,
            "candidates": self.candidates,
        }


def raw_score(clf, Z: np.ndarray) -> np.ndarray:
    """What CalibratedClassifierCV feeds its calibrator: decision_function, else P(1)."""
    if hasattr(clf, "decision_function"):
        return np.asarray(clf.decision_function(Z), dtype=np.float64)
    return clf.predict_proba(Z)[:, 1]


@dataclass
class Pool:
    """Out-of-fold calibration rows: the classifier's raw score, the label, the time block
    (fold) it came from, and the model's own probability (what `none` would serve)."""

    score: np.ndarray
    y: np.ndarray
    block: np.ndarray
    p_model: np.ndarray

    def __len__(self) -> int:
        return len(self.y)

    def plus(self, score: np.ndarray, y: np.ndarray, p_model: np.ndarray) -> Pool:
        """This pool and one more block (the validation split)."""
        nxt = int(self.block.max()) + 1 if len(self) else 0
        return Pool(
            np.concatenate([self.score, score]), np.concatenate([self.y, y]),
            np.concatenate([self.block, np.full(len(y), nxt)]),
            np.concatenate([self.p_model, p_model]),
        )  # fmt: skip


def out_of_fold(
    family: str, params: dict[str, Any], seed: int, X: np.ndarray, y: np.ndarray,
    ts_ns: np.ndarray, n_splits: int, embargo_ns: int,
) -> Pool | None:  # fmt: skip
    """The purged time-ordered folds' test blocks, each scored by a model fitted with
    `params` on its fold's training rows (None: no usable fold)."""
    from train.data.split import PurgedTimeSeriesSplit
    from train.model.models import fit_pipeline

    parts: list[tuple[np.ndarray, ...]] = []
    for tr, te in PurgedTimeSeriesSplit(ts_ns, n_splits, embargo_ns).split(X):
        if len(np.unique(y[tr])) < 2:
            continue
        m = fit_pipeline(family, params, seed, X[tr], y[tr])
        z = m.named_steps["scaler"].transform(X[te])
        clf = m.named_steps["clf"]
        parts.append((raw_score(clf, z), y[te], np.full(len(te), len(parts)),
                      clf.predict_proba(z)[:, 1]))  # fmt: skip
    if not parts or len(np.unique(np.concatenate([q[1] for q in parts]))) < 2:
        return None
    return Pool(*(np.concatenate([q[i] for q in parts]) for i in range(4)))


def training_pool(
    method: str, family: str, params: dict[str, Any], seed: int, ds: Any, n_splits: int,
    tune_rows: int | None,
) -> Pool | None:  # fmt: skip
    """The calibration set beyond validation, as every fit builds it: the out-of-fold
    scores over the same (most recent `tune_rows`) rows of the training split of `ds`
    (a Dataset) the parameter search used, folds purged by its embargo. None for
    `method` none, which fits no calibrator."""
    if method == "none":
        return None
    train = ds.train
    k = tune_rows if tune_rows and len(train.y) > tune_rows else len(train.y)
    return out_of_fold(
        family, params, seed, train.X[-k:].astype(np.float32, copy=False), train.y[-k:],
        train.ts_ns[-k:], n_splits, round(ds.embargo_s * NS),
    )  # fmt: skip


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
    pool: Pool | None = None,
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
        s_all = np.concatenate([pool.score, raw_score(clf, scaler.transform(X_val))])
        y_all = np.concatenate([pool.y, y_val])
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


def _leave_one_block_out(pool: Pool, method: str) -> np.ndarray | None:
    """Each block's probabilities from `method` fitted on the other blocks."""
    if method == "none":
        return pool.p_model
    p = np.empty(len(pool))
    for b in np.unique(pool.block):
        rest = pool.block != b
        if len(np.unique(pool.y[rest])) < 2:
            return None
        cal = _calibrator(method, pool.score[rest], pool.y[rest])
        p[~rest] = np.clip(cal.predict(pool.score[~rest]), 0.0, 1.0)
    return p


def choose(
    pipeline: Pipeline,
    X_val: np.ndarray,
    y_val: np.ndarray,
    requested: str,
    pool: Pool | None = None,
) -> Calibration:
    """Score none/sigmoid/isotonic on rows their calibrator never saw; `auto` ranks by RULE.

    With a `pool` of out-of-fold training blocks, the validation split is one more
    block and every block is scored by the method fitted on the others (each
    period judged by a calibrator that never saw it, as the test period will be);
    without, the validation split is cross-fitted in halves. A named method is
    still scored (the report shows what the others would have given) but is
    always the one used.
    """
    cands: dict[str, dict[str, float]] = {}
    full = None
    if pool is not None:
        clf, z = pipeline.named_steps["clf"], pipeline.named_steps["scaler"].transform(X_val)
        full = pool.plus(raw_score(clf, z), y_val, clf.predict_proba(z)[:, 1])
    for m in FITTED:
        if full is not None:
            p = _leave_one_block_out(full, m)
            y = full.y
        else:
            p, y = cross_fitted(pipeline, X_val, y_val, m), y_val
        if p is not None:
            cands[m] = proper_scores(y, p)
    ranked = sorted(cands, key=lambda m: (cands[m][RULE], FITTED.index(m)))
    if requested != "auto":
        ranked = [requested, *[m for m in ranked if m != requested]]
    return Calibration(
        ranked[0] if ranked else "none", requested, cands, ranked or ["none"],
        scheme=OOF if pool is not None else HALVES, pool=pool,
        fitted_rows=len(full) if full is not None else len(y_val),
    )  # fmt: skip
