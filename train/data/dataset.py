"""From raw records to labelled, cleaned, split arrays (everything before fitting)."""
# ruff: noqa: N806  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from train.data import hygiene
from train.data.clean import (
    bad_path_value,
    feature_stats,
    finite_mask,
    inlier_mask,
    outlier_bounds,
    path_mask,
)
from train.data.records import Records
from train.data.split import chronological_split
from train.errors import InputError
from train.labels.labeler import NS, LabelParams
from train.labels.per_symbol import label_per_symbol, symbol_codes
from train.labels.realised import realised_reversion

log = logging.getLogger("train")
MIN_ROWS_PER_SPLIT = 50


@dataclass
class Part:
    X: np.ndarray
    y: np.ndarray
    ts_ns: np.ndarray
    # Realised sigma-reversion and move at horizon per row (labels/realised.py), for the report.
    reversion: np.ndarray | None = None
    horizon: np.ndarray | None = None
    # Each row's symbol, for the per-symbol figures and thresholds (None: not kept).
    symbols: np.ndarray | None = None
    # One sigma in basis points of the price (sigma/price x 1e4): turns sigma moves into P&L.
    sigma_bps: np.ndarray | None = None


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
    # train.data.hygiene's findings: {"kind", "count", "message", "examples"} each.
    warnings: list[dict] = field(default_factory=list)


@dataclass
class Outcomes:
    """The records of one symbol (or all) whose price path is finite, in input
    order, with their label (-1: censored) and realised reversion."""

    X: np.ndarray  # [N, features], may hold NaN
    label: np.ndarray
    ts: np.ndarray
    reversion: np.ndarray
    horizon: np.ndarray
    sigma_bps: np.ndarray
    first_ns: int  # the window of the records kept by the symbol filter
    last_ns: int
    other_symbols: int | None  # records of other symbols (None: no filter)
    bad_price: int  # records dropped for a NaN, ±Inf or non-positive price, vwap or std_dev
    symbols: np.ndarray | None = None  # each record's symbol
    bad_price_warning: dict | None = None


def _where(recs: Records) -> str:
    """The data's path as a message prefix ("" for records not read from a file)."""
    return f"{recs.source}: " if recs.source else ""


def label_all(
    recs: Records, features: list[str], params: LabelParams, symbol: str | None
) -> Outcomes:
    syms, ts, cols = recs.symbols, recs.ts_ns, recs.columns
    other = None
    if symbol:
        keep = syms == symbol
        if not keep.any():
            found = ", ".join(sorted(set(syms.tolist()))[:10])
            raise InputError(f"{_where(recs)}--symbol {symbol}: no records for it (found: {found})")
        syms, ts, cols = syms[keep], ts[keep], {k: v[keep] for k, v in cols.items()}
        other = int((~keep).sum())
    first_ns, last_ns = int(ts.min()), int(ts.max())
    # The price path must be finite to compute a label at all.
    path_cols = np.column_stack([cols["price"], cols["vwap"], cols["std_dev"]])
    ok = path_mask(path_cols)
    warn = hygiene.dropped_rows(
        "non_finite_price", ~ok, path_cols, ["price", "vwap", "std_dev"], ts,
        "NaN, ±Inf, zero or negative price, vwap or std_dev (no label can be computed)",
        bad_path_value,
    )  # fmt: skip
    syms, ts, cols = syms[ok], ts[ok], {k: v[ok] for k, v in cols.items()}
    codes = symbol_codes(syms)
    path = (codes, ts, cols["price"], cols["vwap"], cols["std_dev"], params)
    label = label_per_symbol(*path)
    rev, hor = realised_reversion(*path)
    X = np.column_stack([cols[f] for f in features])
    with np.errstate(divide="ignore", invalid="ignore"):
        sigma_bps = np.maximum(cols["std_dev"], params.min_std) / cols["price"] * 1e4
    return Outcomes(
        X, label, ts, rev, hor, sigma_bps, first_ns, last_ns, other, int((~ok).sum()), syms, warn
    )


def build_dataset(
    recs: Records,
    features: list[str],
    params: LabelParams,
    embargo_s: float,
    symbol: str | None = None,
) -> Dataset:
    rows: dict[str, int] = {"read": recs.read, "bad": recs.bad}
    recs, warns, found = hygiene.check(recs)
    rows["duplicates"] = found["duplicates"]
    o = label_all(recs, features, params, symbol)
    if o.bad_price_warning:
        warns.append(o.bad_price_warning)
    if o.other_symbols is not None:
        rows["other_symbols"] = o.other_symbols
    first_ns, last_ns = o.first_ns, o.last_ns  # the window actually trained on
    censored = o.label < 0
    rows["censored"] = int(censored.sum())
    finite = finite_mask(o.X)
    ok = ~censored & finite
    rows["dropped_nan"] = o.bad_price + int((~finite & ~censored).sum())
    w = hygiene.dropped_rows(
        "non_finite", ~finite & ~censored, o.X, features, o.ts, "NaN or ±Inf feature values",
        hygiene.non_finite,
    )  # fmt: skip
    if w:
        warns.append(w)
    X, y, ts = o.X[ok], o.label[ok].astype(np.int64), o.ts[ok]
    rev, hor, sbp = o.reversion[ok], o.horizon[ok], o.sigma_bps[ok]
    syms = o.symbols[ok] if o.symbols is not None else None
    if len(y) < 3 * MIN_ROWS_PER_SPLIT:
        raise InputError(
            f"{_where(recs)}only {len(y)} labelled rows after censoring and cleaning; "
            "need more data"
        )
    embargo_s = max(embargo_s, params.lookahead_s)
    sp = chronological_split(ts, round(embargo_s * NS))
    rows["embargoed"] = sp.embargoed
    bounds = outlier_bounds(X[sp.train])
    parts = {}
    dropped_out = 0
    out_mask = np.zeros(len(y), dtype=bool)
    for name, ix in (("train", sp.train), ("validation", sp.validation), ("test", sp.test)):
        keep = inlier_mask(X[ix], bounds)
        dropped_out += int((~keep).sum())
        out_mask[ix[~keep]] = True
        ix = ix[keep]
        parts[name] = Part(
            X[ix], y[ix], ts[ix], rev[ix], hor[ix],
            symbols=None if syms is None else syms[ix], sigma_bps=sbp[ix],
        )  # fmt: skip
        rows[name] = len(ix)
        if len(ix) < MIN_ROWS_PER_SPLIT or len(np.unique(y[ix])) < 2:
            raise InputError(
                f"{_where(recs)}the {name} split has {len(ix)} rows and labels "
                f"{sorted(set(y[ix].tolist()))}: "
                "not enough data (or time span) to train and test; record longer"
            )
    rows["dropped_outlier"] = dropped_out
    lo, hi = bounds
    w = hygiene.dropped_rows(
        "outliers", out_mask, X, features, ts,
        "a feature beyond 5 sigma of the training split's mean (bounds from train only)",
        lambda j, v: not lo[j] <= v <= hi[j],
    )  # fmt: skip
    if w:
        warns.append(w)
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
        warnings=warns,
    )
