"""From raw records to labelled, cleaned, split arrays (everything before fitting)."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from train.clean import feature_stats, finite_mask, inlier_mask, outlier_bounds
from train.io import InputError, Records
from train.labels import NS, LabelParams
from train.parquet import label_per_symbol, symbol_codes
from train.split import chronological_split
from train.trading import realised_reversion

log = logging.getLogger("train")
MIN_ROWS_PER_SPLIT = 50


@dataclass
class Part:
    X: np.ndarray
    y: np.ndarray
    ts_ns: np.ndarray
    # Realised sigma-reversion and move at horizon per row (train/trading.py), for the report.
    reversion: np.ndarray | None = None
    horizon: np.ndarray | None = None


@dataclass
class Dataset:
    features: list[str]
    train: Part
    validation: Part
    test: Part
    rows: dict[str, int]
    first_ns: int
    last_ns: int
    embargo_s: float
    stats: dict[str, dict[str, float]] = field(default_factory=dict)


def build_dataset(
    recs: Records,
    features: list[str],
    params: LabelParams,
    embargo_s: float,
    symbol: str | None = None,
) -> Dataset:
    rows: dict[str, int] = {"read": recs.read, "bad": recs.bad}
    syms, ts, cols = recs.symbols, recs.ts_ns, recs.columns
    if symbol:
        keep = syms == symbol
        if not keep.any():
            found = ", ".join(sorted(set(syms.tolist()))[:10])
            raise InputError(f"--symbol {symbol}: no records for it (found: {found})")
        syms, ts, cols = syms[keep], ts[keep], {k: v[keep] for k, v in cols.items()}
        rows["other_symbols"] = int((~keep).sum())
    first_ns, last_ns = int(ts.min()), int(ts.max())  # the window actually trained on
    # The price path must be finite to compute a label at all.
    pvs = np.column_stack([cols["price"], cols["vwap"], cols["std_dev"]])
    ok = finite_mask(pvs)
    dropped_nan = int((~ok).sum())
    syms, ts, cols = syms[ok], ts[ok], {k: v[ok] for k, v in cols.items()}
    codes = symbol_codes(syms)
    label = label_per_symbol(codes, ts, cols["price"], cols["vwap"], cols["std_dev"], params)
    censored = label < 0
    rev, hor = realised_reversion(codes, ts, cols["price"], cols["vwap"], cols["std_dev"], params)
    rows["censored"] = int(censored.sum())
    X = np.column_stack([cols[f] for f in features])
    ok = ~censored & finite_mask(X)
    dropped_nan += int((~finite_mask(X) & ~censored).sum())
    rows["dropped_nan"] = dropped_nan
    X, y, ts, rev, hor = X[ok], label[ok].astype(np.int64), ts[ok], rev[ok], hor[ok]
    if len(y) < 3 * MIN_ROWS_PER_SPLIT:
        raise InputError(
            f"only {len(y)} labelled rows after censoring and cleaning; need more data"
        )
    embargo_s = max(embargo_s, params.lookahead_s)
    sp = chronological_split(ts, round(embargo_s * NS))
    rows["embargoed"] = sp.embargoed
    bounds = outlier_bounds(X[sp.train])
    parts = {}
    dropped_out = 0
    for name, ix in (("train", sp.train), ("validation", sp.validation), ("test", sp.test)):
        keep = inlier_mask(X[ix], bounds)
        dropped_out += int((~keep).sum())
        ix = ix[keep]
        parts[name] = Part(X[ix], y[ix], ts[ix], rev[ix], hor[ix])
        rows[name] = len(ix)
        if len(ix) < MIN_ROWS_PER_SPLIT or len(np.unique(y[ix])) < 2:
            raise InputError(
                f"the {name} split has {len(ix)} rows and labels {sorted(set(y[ix].tolist()))}: "
                "not enough data (or time span) to train and test; record longer"
            )
    rows["dropped_outlier"] = dropped_out
    log.info("rows: %s", rows)
    return Dataset(
        features=features,
        train=parts["train"],
        validation=parts["validation"],
        test=parts["test"],
        rows=rows,
        first_ns=first_ns,
        last_ns=last_ns,
        embargo_s=embargo_s,
        stats=feature_stats(parts["train"].X, features),
    )
