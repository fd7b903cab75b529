"""Labeling one symbol at a time, which keeps the labeler's memory small on big inputs."""

from __future__ import annotations

import itertools

import numpy as np

from train.labels.labeler import LabelParams, label_records


def symbol_codes(symbols: np.ndarray) -> np.ndarray:
    """Integer codes, one per distinct symbol, found by hashing (np.unique on
    10⁷ Python strings would sort them, minutes instead of a second)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    return (
        pc.dictionary_encode(pa.array(symbols, type=pa.string())).indices.to_numpy().astype(np.intp)
    )


def label_per_symbol(
    codes: np.ndarray,
    ts_ns: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    params: LabelParams,
) -> np.ndarray:
    """label_records, one symbol at a time (a label never looks at another symbol).

    The labeler's temporaries (sort order, window bounds, range extrema: about
    80 bytes a row) then scale with the largest symbol, not the whole input.
    """
    out = np.empty(len(ts_ns), dtype=np.int8)
    if len(out) == 0:
        return out
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0, True])
    for s, e in itertools.pairwise(bounds):
        ix = order[s:e]
        out[ix] = label_records(codes[ix], ts_ns[ix], price[ix], vwap[ix], std_dev[ix], params)
    return out
