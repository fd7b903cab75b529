"""Hyper-parameter search over purged, time-ordered folds (never shuffled).

* grid: every candidate of the family's grid, scored by mean AUC over the folds.
* fast: successive halving. Round r scores the surviving candidates on the most
  recent fraction of each fold's training rows (resources grow x3 per round)
  and keeps the best third — chronology is kept because a fold's training rows
  always precede its test rows, whatever fraction of them is used.
"""
# ruff: noqa: N803, N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import ParameterGrid
from tqdm import tqdm

from train.data.split import PurgedTimeSeriesSplit
from train.errors import InputError
from train.model import families
from train.model.models import fit_pipeline

log = logging.getLogger("train")

FAST_CANDIDATES = 6  # successive halving starts from this many sampled grid points
HALVING_FACTOR = 3


@dataclass
class SearchResult:
    best_params: dict[str, Any]
    best_score: float
    mode: str
    folds: int
    tuned_rows: int
    fits: int
    scores: list[dict[str, Any]] = field(default_factory=list)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def _fold_auc(family, params, X, y, tr, te, seed) -> float:
    if len(np.unique(y[tr])) < 2 or len(np.unique(y[te])) < 2:
        return float("nan")
    model = fit_pipeline(family, params, seed, X[tr], y[tr])
    return float(roc_auc_score(y[te], model.predict_proba(X[te])[:, 1]))


def run_search(
    family: str,
    X: np.ndarray,
    y: np.ndarray,
    ts_ns: np.ndarray,
    mode: str,
    n_splits: int,
    embargo_ns: int,
    tune_rows: int | None,
    seed: int,
) -> SearchResult:
    """X, y, ts_ns: the training split, sorted by time."""
    if tune_rows and len(y) > tune_rows:
        # Tune on the most recent rows: the regime the model will be used in.
        X, y, ts_ns = X[-tune_rows:], y[-tune_rows:], ts_ns[-tune_rows:]
    folds = list(PurgedTimeSeriesSplit(ts_ns, n_splits, embargo_ns).split(X))
    if not folds:
        raise InputError(
            f"{len(y)} training rows are too few for {n_splits} time-ordered folds; "
            "record longer or lower --cv-folds"
        )
    grid = [dict(p) for p in ParameterGrid(families.get(family).grid)]
    if mode == "grid":
        cands = grid
        rounds = [1.0]
    elif mode == "fast":
        cands = random.Random(seed).sample(grid, min(FAST_CANDIDATES, len(grid)))
        n_rounds = max(1, math.ceil(math.log(len(cands), HALVING_FACTOR)))
        rounds = [HALVING_FACTOR ** (r - n_rounds + 1) for r in range(n_rounds)]
    else:
        raise ValueError(f"unknown search mode {mode!r}")
    total = 0
    alive = cands
    for _ in rounds:
        total += len(alive) * len(folds)
        alive = alive[: max(1, len(alive) // HALVING_FACTOR)]
    scores: list[dict[str, Any]] = []
    fits = 0
    alive = cands
    with tqdm(total=total, desc=f"search {family} ({mode})", unit="fit", leave=False) as bar:
        for frac in rounds:
            round_scores = []
            for params in alive:
                aucs = []
                for tr, te in folds:
                    tr_used = tr[-max(50, int(len(tr) * frac)) :]
                    aucs.append(_fold_auc(family, params, X, y, tr_used, te, seed))
                    fits += 1
                    bar.update(1)
                score = float(np.nanmean(aucs)) if not np.all(np.isnan(aucs)) else float("nan")
                round_scores.append(score)
                scores.append({"params": _jsonable(params), "fraction": frac, "auc": score})
            order = np.argsort([-s if not math.isnan(s) else math.inf for s in round_scores])
            alive = [alive[i] for i in order[: max(1, len(alive) // HALVING_FACTOR)]]
            best_score = round_scores[order[0]]
    best = alive[0]
    log.info("search %s (%s): best CV AUC %.4f with %s", family, mode, best_score, best)
    return SearchResult(_jsonable(best), best_score, mode, len(folds), len(y), fits, scores)
