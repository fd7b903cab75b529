"""Walk-forward evaluation: a model retrained every period, as the nightly job does,
against one trained once on the first window and never replaced.

Timeline: the records span [first, last]; retrain times are T_k = first + k·P
(k ≥ 1, T_k < last). At T_k the nightly job sees the records with t < T_k (only
the last `window` of them with a window, like `deploy_model.sh --days`), and
`build_dataset` labels them exactly as `train fit` does — windows that pass T_k
are censored, the future is unknown then — cleans, splits 60/20/20 with the
embargo; the model is tuned, fitted, calibrated (out-of-fold training scores plus
validation, the method chosen as `train fit` chooses it) and gated on its test AUC
like `train fit`. A model that fails the gate (or has too little
data) is not deployed: the previous one keeps deciding, as after a refused
deploy. The model from T_k decides period k = [T_k, T_k + P), scored on the
labels and realised reversion of all the data (the outcome as it happened).
Scores are scikit-learn probabilities (`train fit` gates ONNX parity at 1e-4).
"""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from modelformat.manifest import DEFAULT_MIN_AUC, DEFAULT_THRESHOLD
from train.backtest.trading import THRESHOLDS, trading_table
from train.data.clean import finite_mask
from train.data.dataset import build_dataset, label_all
from train.data.records import Records, format_timestamp
from train.errors import GateFailedError, InputError
from train.labels.labeler import NS, LabelParams
from train.model.calibrate import calibrate, choose, training_pool
from train.model.models import fit_pipeline
from train.model.search import run_search

log = logging.getLogger("train")


@dataclass
class WalkForwardConfig:
    features: list[str]
    label: LabelParams
    every_s: float
    window_s: float | None = None  # None: all history up to the retrain time
    first_s: float | None = None  # the once model's data; None: a third of the span (see below)
    family: str = "gbm"
    search: str = "once"  # once: tune (fast) on the first window, reuse; fast|grid: every time
    calibration: str = "sigmoid"
    threshold: float = DEFAULT_THRESHOLD
    n_splits: int = 3
    tune_rows: int | None = 100000
    seed: int = 0
    symbol: str | None = None
    embargo_s: float = 0.0
    min_auc: float = DEFAULT_MIN_AUC


@dataclass
class _Rows:
    X: np.ndarray
    y: np.ndarray
    ts: np.ndarray
    reversion: np.ndarray
    horizon: np.ndarray
    first_ns: int
    last_ns: int


def _labelled(recs: Records, cfg: WalkForwardConfig) -> _Rows:
    """Every row of the data with its realised outcome (labels on all the data)."""
    o = label_all(recs, cfg.features, cfg.label, cfg.symbol)
    ok = (o.label >= 0) & finite_mask(o.X)
    return _Rows(o.X[ok].astype(np.float32), o.label[ok].astype(np.int64), o.ts[ok],
                 o.reversion[ok], o.horizon[ok], o.first_ns, o.last_ns)  # fmt: skip


def _before(recs: Records, start_ns: int, end_ns: int) -> Records:
    m = (recs.ts_ns >= start_ns) & (recs.ts_ns < end_ns)
    cols = {k: v[m] for k, v in recs.columns.items()}
    return Records(recs.symbols[m], recs.ts_ns[m], cols, read=int(m.sum()), source=recs.source)


def _train(recs: Records, cfg: WalkForwardConfig, params: dict | None) -> dict[str, Any]:
    """One nightly retrain on `recs`: the model, its parameters, its test AUC."""
    ds = build_dataset(recs, cfg.features, cfg.label, cfg.embargo_s, cfg.symbol)
    Xtr, Xva, Xte = (p.X.astype(np.float32) for p in (ds.train, ds.validation, ds.test))
    if params is None:
        mode = "fast" if cfg.search == "once" else cfg.search
        res = run_search(cfg.family, Xtr, ds.train.y, ds.train.ts_ns, mode, cfg.n_splits,
                         round(ds.embargo_s * NS), cfg.tune_rows, cfg.seed)  # fmt: skip
        params = res.best_params
    pipe = fit_pipeline(cfg.family, params, cfg.seed, Xtr, ds.train.y)
    # Calibrated as `train fit` calibrates (train/fit.py): on the out-of-fold
    # scores of the training split plus validation, the method chosen the same way.
    pool = training_pool(cfg.calibration, cfg.family, params, cfg.seed, ds, cfg.n_splits,
                         cfg.tune_rows)  # fmt: skip
    method = cfg.calibration
    if method == "auto":  # only `auto` needs the methods scored; a named one is used as is
        method = choose(pipe, Xva, ds.validation.y, method, pool).method
    pipe = calibrate(pipe, Xva, ds.validation.y, method, pool)
    auc = float(roc_auc_score(ds.test.y, pipe.predict_proba(Xte)[:, 1]))
    return {"model": pipe, "params": params, "test_auc": auc, "train_rows": ds.rows["train"],
            "calibration": method}  # fmt: skip


def _scores(y: np.ndarray, p: np.ndarray, rev: np.ndarray, hor: np.ndarray, thr: float) -> dict:
    row = trading_table(y, p, rev, hor, (thr,))[0]
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else None
    return {"auc": auc, **{k: v for k, v in row.items() if k != "threshold"}}


# A period with fewer labelled rows, or with one class only, says nothing about the gate
# (precision of a handful of approvals, no AUC): it is shown, flagged, and left out of
# the pooled figures.
MIN_PERIOD_ROWS = 200


def excluded_reason(y: np.ndarray) -> str | None:
    """Why a period's rows are too few or degenerate to judge the gate by, or None."""
    if len(y) < MIN_PERIOD_ROWS:
        return f"{len(y)} rows < {MIN_PERIOD_ROWS}"
    if len(np.unique(y)) < 2:
        return f"one class only (base rate {float(y.mean()):.3f})"
    return None


def walk_forward(recs: Records, cfg: WalkForwardConfig) -> dict[str, Any]:
    rows = _labelled(recs, cfg)
    every = round(cfg.every_s * NS)
    # Default first window: a third of the data in whole periods (at least one), so the
    # once model is not judged on a sliver of data and two thirds remain to evaluate.
    span = rows.last_ns - rows.first_ns
    first = round(cfg.first_s * NS) if cfg.first_s else every * max(1, round(span / every / 3))
    starts = list(range(rows.first_ns + first, rows.last_ns, every))
    if not starts:
        hours = (rows.last_ns - rows.first_ns) / 3600 / NS
        raise InputError(
            f"the data spans {hours:.2f} h: a first window of {first / NS / 3600:g} h leaves no "
            "period to evaluate; give a shorter period (or first window) or more data"
        )
    window = round(cfg.window_s * NS) if cfg.window_s else None
    log.info("walk-forward: %d periods of %g s, %s", len(starts), cfg.every_s, cfg.family)
    periods, serving, once = [], None, None
    p_ret: list[np.ndarray] = []
    p_once: list[np.ndarray] = []
    seen: list[np.ndarray] = []  # the scored rows of every period, for the pooled figures
    for k, t0 in enumerate(starts):
        lo = rows.first_ns if window is None else max(rows.first_ns, t0 - window)
        params = None if cfg.search != "once" or once is None else once["params"]
        retrain: dict[str, Any] = {
            "trained_on": [format_timestamp(lo), format_timestamp(t0)],
            "deployed": False,
        }
        try:
            cand = _train(_before(recs, lo, t0), cfg, params)
            retrain |= {k: cand[k] for k in ("test_auc", "train_rows", "calibration")}
            if cand["test_auc"] < cfg.min_auc:
                retrain["reason"] = f"test AUC {cand['test_auc']:.4f} < --min-auc {cfg.min_auc}"
            else:
                retrain["deployed"], serving = True, cand | {"since": format_timestamp(t0)}
        except InputError as e:
            if k == 0:
                span = f"{format_timestamp(lo)} → {format_timestamp(t0)}"
                raise InputError(f"the first window ({span}): {e}") from None
            retrain["reason"] = str(e)
        if k == 0:
            if serving is None:
                raise GateFailedError(f"the first window's model: {retrain['reason']}")
            once = serving
        log.info(
            "period %d/%d from %s: retrain %s", k + 1, len(starts), format_timestamp(t0), retrain
        )
        assert serving is not None and once is not None
        m = (rows.ts >= t0) & (rows.ts < t0 + every)
        y, rev, hor = rows.y[m], rows.reversion[m], rows.horizon[m]
        entry: dict[str, Any] = {
            "start": format_timestamp(t0), "end": format_timestamp(min(t0 + every, rows.last_ns)),
            "rows": int(m.sum()),
            "base_rate": float(y.mean()) if m.any() else None, "retrain": retrain,
            "model_since": serving["since"],
        }  # fmt: skip
        entry["excluded"] = excluded_reason(y)
        if m.any():
            pr = serving["model"].predict_proba(rows.X[m])[:, 1]
            po = once["model"].predict_proba(rows.X[m])[:, 1]
            if entry["excluded"] is None:
                p_ret.append(pr)
                p_once.append(po)
                seen.append(np.flatnonzero(m))
            entry["retrained"] = _scores(y, pr, rev, hor, cfg.threshold)
            entry["once"] = _scores(y, po, rev, hor, cfg.threshold)
        periods.append(entry)
    ix = np.concatenate(seen) if seen else np.zeros(0, dtype=np.int64)
    if not len(ix):
        raise InputError(
            f"no period after the first window has {MIN_PERIOD_ROWS} labelled rows of both "
            "classes: nothing to evaluate; give a longer period or more data"
        )
    y, rev, hor = rows.y[ix], rows.reversion[ix], rows.horizon[ix]
    pooled: dict[str, Any] = {
        "rows": len(ix), "base_rate": float(y.mean()),
        "periods": len(seen), "excluded": sum(1 for p in periods if p["excluded"]),
        "min_period_rows": MIN_PERIOD_ROWS,
    }  # fmt: skip
    for name, ps in (("retrained", p_ret), ("once", p_once)):
        p = np.concatenate(ps)
        pooled[name] = {
            "at_threshold": _scores(y, p, rev, hor, cfg.threshold),
            "table": trading_table(y, p, rev, hor, THRESHOLDS),
        }
    assert once is not None
    return {
        "every_s": cfg.every_s,
        "window_s": cfg.window_s,
        "family": cfg.family,
        "search": cfg.search,
        "calibration": cfg.calibration,
        "threshold": cfg.threshold,
        "min_auc": cfg.min_auc,
        "seed": cfg.seed,
        "symbol": cfg.symbol,
        "label": cfg.label.to_dict(),
        "first": format_timestamp(rows.first_ns),
        "last": format_timestamp(rows.last_ns),
        "once": {
            "trained_on": [format_timestamp(rows.first_ns), once["since"]],
            "params": once["params"],
            "test_auc": once["test_auc"],
        },
        "periods": periods,
        "pooled": pooled,
    }


def add_to_report(out: Path, recs: Records, args: Any, family: str) -> None:
    """`train fit --walk-forward`: the section appended to out/report.md before publishing.

    `args` is the fit's FitArgs: same features, labels, calibration, threshold,
    gate and seed. Too little data for a walk-forward never fails the fit: the
    section then says why it was skipped.
    """
    from train.backtest.walkforward_report import write

    cfg = WalkForwardConfig(
        features=args.features,
        label=args.label,
        every_s=args.walk_forward_s,
        family=family,
        calibration=args.opts.calibration,
        threshold=args.opts.threshold,
        n_splits=args.opts.n_splits,
        tune_rows=args.opts.tune_rows,
        seed=args.opts.seed,
        symbol=args.symbol,
        embargo_s=args.embargo_s,
        min_auc=args.min_auc,
    )
    try:
        res = walk_forward(recs, cfg)
        res["data"] = str(args.data)
        lines = write(out, res, "walkforward")
    except (InputError, GateFailedError) as e:
        log.warning("walk-forward skipped: %s", e)
        lines = ["## Walk-forward", "", f"Skipped: {e}.", ""]
    with open(out / "report.md", "a", encoding="utf-8") as f:
        f.write("\n".join(lines))
