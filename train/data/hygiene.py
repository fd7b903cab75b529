"""Data hygiene with a voice: what is wrong with the input, counted and shown.

Run on the raw records before labelling. Exact duplicate records are dropped
(a replayed export would otherwise count every trade twice and pull the
calibration toward the duplicated stretch); coarse or out-of-order timestamps
are kept but reported, because they change what a label means (records that
share a timestamp are not each other's future, so whole-second timestamps
shorten every lookahead window to its whole seconds). Every finding becomes a
warning: logged at WARNING, written to the manifest's `data.warnings` and to
the "Data warnings" block at the top of report.md.
"""

# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from train.data.records import Records, format_timestamp

log = logging.getLogger("train")

# Warn when more than this share of records share (symbol, timestamp) with another.
MAX_SHARED_TIMESTAMPS = 0.10
EXAMPLES = 3
_UNITS = ((10**9, "whole seconds"), (10**6, "milliseconds"), (10**3, "microseconds"))


def warning(kind: str, count: int, message: str, examples: list[str] | None = None) -> dict:
    w = {"kind": kind, "count": int(count), "message": message, "examples": examples or []}
    log.warning("data: %s%s", message, f" (e.g. {'; '.join(w['examples'])})" if examples else "")
    return w


def _example(recs: Records, i: int, what: str = "") -> str:
    return f"record {int(i)} ({recs.symbols[i]} {format_timestamp(recs.ts_ns[i])}){what}"


def resolution(ts_ns: np.ndarray) -> str:
    """The coarsest clock unit every timestamp is a whole multiple of."""
    for unit, name in _UNITS:
        if len(ts_ns) and not np.any(ts_ns % unit):
            return name
    return "nanoseconds"


def exact_duplicates(
    codes: np.ndarray, ts_ns: np.ndarray, columns: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The definition of an exact duplicate, shared by every engine: same symbol,
    timestamp and every column (as the reader holds them; NaN equals nothing).

    Returns (order, same_key, same_all): the records sorted stably on (symbol,
    time, every column), so equal records are adjacent and the first in input
    order comes first; same_key[i] when order[i] has the symbol and time of
    order[i - 1], same_all when every column is equal too. order[same_all] are
    the duplicates to drop (the first of each run is kept)."""
    names = sorted(columns)
    order = np.lexsort([*(columns[c] for c in reversed(names)), ts_ns, codes])
    same_key = np.r_[False, (codes[order][1:] == codes[order][:-1])
                     & (ts_ns[order][1:] == ts_ns[order][:-1])]  # fmt: skip
    same_all = same_key.copy()
    for c in names:
        v = columns[c][order]
        same_all[1:] &= v[1:] == v[:-1]
    return order, same_key, same_all


def check(recs: Records) -> tuple[Records, list[dict[str, Any]], dict[str, int]]:
    """(records without exact duplicates, warnings, row counts) for the raw input."""
    warns: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    if recs.bad:
        warns.append(warning("malformed", recs.bad, f"{recs.bad} malformed records skipped "
                             "(--max-bad)", recs.bad_examples[:EXAMPLES]))  # fmt: skip
    n = len(recs)
    codes = np.unique(recs.symbols, return_inverse=True)[1] if n else np.zeros(0, np.int64)
    order, same_key, same_all = exact_duplicates(codes, recs.ts_ns, recs.columns)
    dup = order[same_all]
    counts["duplicates"] = len(dup)
    if len(dup):
        warns.append(warning(
            "duplicates", len(dup),
            f"{len(dup)} exact duplicate records ({len(dup) / n:.1%}) dropped: same symbol, "
            "timestamp and fields",
            [_example(recs, i) for i in np.sort(dup)[:EXAMPLES]],
        ))  # fmt: skip
        keep = np.ones(n, dtype=bool)
        keep[dup] = False
        recs = replace(recs, symbols=recs.symbols[keep], ts_ns=recs.ts_ns[keep],
                       columns={k: v[keep] for k, v in recs.columns.items()})  # fmt: skip
        codes, same_key = codes[keep], None
        n = len(recs)
    if same_key is None:
        order = np.lexsort([recs.ts_ns, codes])
        same_key = np.r_[False, (codes[order][1:] == codes[order][:-1])
                         & (recs.ts_ns[order][1:] == recs.ts_ns[order][:-1])]  # fmt: skip
    else:
        same_key = same_key & ~same_all
    # Every record of a run of equal (symbol, timestamp) shares it, the first one too.
    shared_mask = same_key | np.r_[same_key[1:], False]
    shared = int(shared_mask.sum())
    res = resolution(recs.ts_ns)
    counts["shared_timestamp"] = shared
    if n and (shared / n > MAX_SHARED_TIMESTAMPS or res == "whole seconds"):
        warns.append(warning(
            "coarse_timestamps", shared,
            f"timestamps in {res}: {shared} records ({shared / n:.1%}) share their symbol's "
            "timestamp with another; records at the same instant are not each other's future, "
            "so labels see less of the lookahead window (export with the bot's millisecond "
            "clock)",
            [_example(recs, order[i]) for i in np.flatnonzero(shared_mask)[:EXAMPLES]],
        ))  # fmt: skip
    # Out of order: a record earlier than the one before it of the same symbol, in input order.
    by_sym = np.argsort(codes, kind="stable")
    back = np.flatnonzero((np.diff(codes[by_sym]) == 0) & (np.diff(recs.ts_ns[by_sym]) < 0)) + 1
    counts["out_of_order"] = len(back)
    if len(back):
        warns.append(warning(
            "out_of_order", len(back),
            f"{len(back)} records are earlier than the record before them of the same symbol "
            "(labels sort by time, but check the recorder's clock)",
            [_example(recs, by_sym[i]) for i in back[:EXAMPLES]],
        ))  # fmt: skip
    return recs, warns, counts


def dropped_rows(
    kind: str,
    mask: np.ndarray,
    X: np.ndarray,
    names: list[str],
    ts: np.ndarray,
    why: str,
    bad_cell: Callable[[int, float], bool],
) -> dict[str, Any] | None:
    """A warning for the rows `mask` drops, each example naming its offending fields."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return None
    ex = []
    for i in idx[:EXAMPLES]:
        bad = [f"{names[j]}={float(X[i, j])!r}" for j in range(X.shape[1]) if bad_cell(j, X[i, j])]
        ex.append(f"row at {format_timestamp(ts[i])}: {', '.join(bad)}")
    return warning(kind, len(idx), f"{len(idx)} rows dropped: {why}", ex)


def non_finite(j: int, v: float) -> bool:
    return not np.isfinite(v)
