"""One model family end to end: search → refit on train → calibrate → ONNX → checks.

It sits above train/model and train/onnx, which it joins, and below the engines that
call it: the local run (train/publish/run.py) and the Dask one (train/distributed).
"""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from modelformat.manifest import DEFAULT_THRESHOLD
from train.data.dataset import Dataset
from train.model.calibrate import Calibration, calibrate, choose, training_pool
from train.model.metrics import classification_metrics, proper_scores
from train.model.models import fit_pipeline
from train.model.search import SearchResult, run_search
from train.model.threshold import DEFAULT_MIN_APPROVALS, target_threshold
from train.onnx import export

log = logging.getLogger("train")


@dataclass
class FitOptions:
    search: str = "fast"
    n_splits: int = 5
    tune_rows: int | None = None
    calibration: str = "sigmoid"
    threshold: float = DEFAULT_THRESHOLD
    # When set, the threshold is the lowest whose validation precision reaches it.
    target_precision: float | None = None
    min_approvals: int = DEFAULT_MIN_APPROVALS
    max_parity: float = 1e-4  # `auto` falls back from a calibration that fails it
    min_agreement: float = 0.995
    max_auc_delta: float = 0.005
    seed: int = 0


@dataclass
class FamilyResult:
    family: str
    pipeline: Any
    search: SearchResult
    val_auc: float
    p_sklearn: np.ndarray  # test split, scikit-learn
    p_onnx: np.ndarray  # test split, FP32 ONNX
    parity: float
    metrics: dict[str, Any]
    variants: dict[str, export.VariantCheck] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    fit_seconds: float = 0.0
    threshold: float = DEFAULT_THRESHOLD  # the decision threshold (target or --threshold)
    calibration: Calibration | None = None
    # The chosen calibration's out-of-fold figures on validation (what families are ranked by).
    val_scores: dict[str, float] = field(default_factory=dict)
    target: dict[str, Any] | None = None  # --target-precision: how the threshold was found


def fit_family(family: str, ds: Dataset, opts: FitOptions, workdir: Path) -> FamilyResult:
    """Train one family and write its three ONNX files into workdir."""
    t0 = time.perf_counter()
    tr = ds.train
    embargo_ns = round(ds.embargo_s * 1e9)
    # float32 from the start: what the ONNX graph sees is what the model is fitted on.
    Xtr = tr.X.astype(np.float32, copy=False)
    res = run_search(
        family,
        Xtr,
        tr.y,
        tr.ts_ns,
        opts.search,
        opts.n_splits,
        embargo_ns,
        opts.tune_rows,
        opts.seed,
    )
    log.info("%s: refit on %d training rows with %s", family, len(tr.y), res.best_params)
    pipe = fit_pipeline(family, res.best_params, opts.seed, Xtr, tr.y)
    return finish_family(family, pipe, res, ds, opts, workdir, t0)


def finish_family(
    family: str,
    pipe: Any,
    res: SearchResult,
    ds: Dataset,
    opts: FitOptions,
    workdir: Path,
    t0: float,
) -> FamilyResult:
    """From a fitted pipeline on: calibrate → ONNX variants → checks, on validation and test.

    Shared by every engine (the distributed fit hands its pipeline in here), so a
    model is exported and gated the same way however it was trained.
    """
    va, te = ds.validation, ds.test
    Xva, Xte = (p.X.astype(np.float32, copy=False) for p in (va, te))
    pool = training_pool(
        opts.calibration, family, res.best_params, opts.seed, ds, opts.n_splits, opts.tune_rows
    )
    cal = choose(pipe, Xva, va.y, opts.calibration, pool)
    log.info(
        "%s: calibration %s (%s); out-of-fold validation %s", family, cal.method, opts.calibration,
        {m: round(c["log_loss"], 5) for m, c in cal.candidates.items()},
    )  # fmt: skip
    # `auto` takes the best-scoring method whose ONNX graph reproduces scikit-learn
    # (isotonic on xgb's squeezed probabilities can miss the parity gate).
    tries = cal.ranked if opts.calibration == "auto" else [cal.method]
    uncal = pipe
    workdir.mkdir(parents=True, exist_ok=True)
    for i, method in enumerate(tries):
        pipe = calibrate(uncal, Xva, va.y, method, pool)
        p_skl = pipe.predict_proba(Xte)[:, 1]
        model = export.to_onnx_fp32(pipe, len(ds.features), family)
        notes, converted = export.write_variants(model, workdir)
        sess = export.session(workdir / export.VARIANT_FILES["fp32"])
        p_onnx = export.predict(sess, Xte)
        parity = float(np.max(np.abs(p_onnx - p_skl)))
        if parity <= opts.max_parity or i == len(tries) - 1:
            break
        log.warning(
            "%s: %s calibration: ONNX parity %.3g > %g, trying %s", family, method, parity,
            opts.max_parity, tries[i + 1],
        )  # fmt: skip
    cal.method = method
    p_val = pipe.predict_proba(Xva)[:, 1]
    val_auc = float(roc_auc_score(va.y, p_val))
    val_scores = cal.candidates.get(method) or proper_scores(va.y, p_val)
    threshold, target = opts.threshold, None
    if opts.target_precision is not None:
        target = target_threshold(va.y, p_val, opts.target_precision, opts.min_approvals)
        # No threshold reaches it: train/publish/run.py refuses this family, with these figures.
    if target is not None and target["threshold"] is not None:
        threshold = target["threshold"]
        log.info("%s: --target-precision %s → threshold %.4f (%d validation approvals)",
                 family, opts.target_precision, threshold, target["approved"])  # fmt: skip
    variants = {}
    for name, fname in export.VARIANT_FILES.items():
        check, _ = export.compare(
            name,
            workdir / fname,
            p_onnx,
            Xte,
            te.y,
            threshold,
            opts.min_agreement,
            opts.max_auc_delta,
        )
        # fp32's note says what made the graph cheaper (calibration folded, ...).
        check.note = notes.get(name) if name != "fp32" else export.graph_note(model)
        check.converted_nodes = converted.get(name, 0)
        variants[name] = check
    export.measure_latency(variants, workdir, Xte)
    for name, check in variants.items():
        log.info("%s %s: %s", family, name, check.to_dict())
    metrics = classification_metrics(te.y, p_onnx, threshold)
    return FamilyResult(
        family,
        pipe,
        res,
        val_auc,
        p_skl,
        p_onnx,
        parity,
        metrics,
        variants,
        notes,
        time.perf_counter() - t0,
        threshold,
        cal,
        val_scores,
        target,
    )


SPEEDUP_TO_SERVE = 0.8  # a reduced-precision variant must be ≥ 20 % faster to be served


def choose_serve_variant(variants: dict[str, export.VariantCheck]) -> str | None:
    """FP32 unless an accepted variant that really changed the graph is clearly faster.

    Timer noise on a shared machine is easily 10 %; an unchanged graph (a tree
    ensemble's INT8) is never preferred because of it.
    """
    acc = {k: v for k, v in variants.items() if v.accepted}
    if not acc:
        return None
    if "fp32" not in acc:
        return min(acc, key=lambda k: acc[k].latency_us or float("inf"))
    base = acc["fp32"].latency_us or float("inf")
    faster = [
        k for k, v in acc.items()
        if k != "fp32" and v.converted_nodes and (v.latency_us or base) <= SPEEDUP_TO_SERVE * base
    ]  # fmt: skip
    return min(faster, key=lambda k: acc[k].latency_us or base) if faster else "fp32"
