"""Recent records → labelled candidates, with the model's own label parameters.

Records before `since` are dropped before labelling (a label only looks
forward); `last_s` instead keeps the last `last_s` seconds of the data (measured
from its newest record, not from now: an export is judged as of its own end).
Records at or after `until` are kept for labelling (they are the future of the
last candidates) but are not candidates themselves. A record
whose lookahead runs past its symbol's last record is censored: its outcome is
not known yet, so it is not judged (the next run will judge it).

Exact duplicate records (train.data.hygiene's definition: same symbol, timestamp
and fields) are dropped first, as `train fit` drops them, with a warning and
their count (`counts["duplicates"]`): a replayed export would otherwise count
every outcome twice and let a scope reach --min-approvals on half the approvals.
"""

# ruff: noqa: N806  (X is the feature matrix, as in the rest of train)
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from train.data import hygiene
from train.data.clean import finite_mask
from train.data.load import read_records
from train.errors import InputError
from train.labels.labeler import LabelParams
from train.labels.per_symbol import label_per_symbol, symbol_codes


@dataclass
class Window:
    symbols: np.ndarray  # str objects
    ts_ns: np.ndarray
    X: np.ndarray  # float32 [N, features], what the sidecar would be sent
    y: np.ndarray  # int8 outcomes 0/1
    first_ns: int  # the span candidates were taken from
    last_ns: int
    counts: dict[str, int]

    def __len__(self) -> int:
        return len(self.y)


def label_params(label: dict[str, Any] | None, where: str) -> LabelParams:
    """The manifest's `label` block as LabelParams; every field is required."""
    if not isinstance(label, dict):
        raise InputError(f"{where}: no 'label' block: cannot label outcomes as the model was")
    fields = ("lookahead_s", "threshold_sigma", "min_dist_sigma", "min_std")
    vals = {}
    for f in fields:
        v = label.get(f)
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            raise InputError(f"{where}: field 'label.{f}' must be a number, got {v!r}")
        vals[f] = float(v)
    if vals["lookahead_s"] <= 0 or vals["min_std"] <= 0:
        raise InputError(f"{where}: 'label.lookahead_s' and 'label.min_std' must be > 0")
    return LabelParams(**vals)


def load_window(
    data: Path,
    features: list[str],
    params: LabelParams,
    since_ns: int | None = None,
    until_ns: int | None = None,
    max_bad: int = 0,
    min_rows: int = 1,
    last_s: float | None = None,
) -> Window:
    recs = read_records(data, features, max_bad)
    read = recs.read or len(recs)
    # Exact duplicates go first, as in train fit (with its other hygiene warnings).
    recs, _, found = hygiene.check(recs)
    counts = {"read": read, "bad": recs.bad, "duplicates": found["duplicates"]}
    syms, ts, cols = recs.symbols, recs.ts_ns, recs.columns
    if last_s is not None and len(ts):
        since_ns = max(since_ns or 0, int(ts.max()) - round(last_s * 1e9))
    if since_ns is not None:
        keep = ts >= since_ns
        if not keep.any():
            raise InputError(f"{data}: no records at or after --since (last is {_iso(ts.max())})")
        syms, ts, cols = syms[keep], ts[keep], {k: v[keep] for k, v in cols.items()}
    counts["in_window"] = len(ts)
    path_ok = finite_mask(np.column_stack([cols["price"], cols["vwap"], cols["std_dev"]]))
    syms, ts, cols = syms[path_ok], ts[path_ok], {k: v[path_ok] for k, v in cols.items()}
    counts["bad_price"] = int((~path_ok).sum())
    y = label_per_symbol(
        symbol_codes(syms), ts, cols["price"], cols["vwap"], cols["std_dev"], params
    )
    X = np.column_stack([cols[f] for f in features]).astype(np.float32)
    cand = (y >= 0) & finite_mask(X)
    counts["censored"] = int((y < 0).sum())
    counts["bad_features"] = int(((y >= 0) & ~finite_mask(X)).sum())
    if until_ns is not None:
        counts["after_until"] = int((cand & (ts >= until_ns)).sum())
        cand &= ts < until_ns
    counts["candidates"] = int(cand.sum())
    if counts["candidates"] < min_rows:
        raise InputError(
            f"{data}: {counts['candidates']} labelled candidate(s) in the window, need at least "
            f"{min_rows} ({counts['censored']} censored: their lookahead runs past the data; "
            f"{counts['bad_price'] + counts['bad_features']} with NaN/Inf fields)"
        )
    ts_c = ts[cand]
    return Window(
        symbols=syms[cand],
        ts_ns=ts_c,
        X=X[cand],
        y=y[cand],
        first_ns=int(ts_c.min()),
        last_ns=int(ts_c.max()),
        counts=counts,
    )


def _iso(ts_ns: int) -> str:
    from train.publish.manifest import iso

    return iso(int(ts_ns))
