"""sigma-reversion labels with sliding-window extrema (no O(n²) scans).

For a record at time t with dist = (price - vwap)/sigma, sigma = max(std_dev, min_std):
* |dist| ≤ min_dist                → label 0 (not a reversion candidate);
* dist > 0: label 1 when (price(t) - min price in (t, t+L]) / sigma ≥ threshold;
* dist < 0: label 1 when (max price in (t, t+L]) - price(t)) / sigma ≥ threshold;
* a record whose window (t, t+L] runs past its symbol's last timestamp is
  censored: it gets no label (we cannot know), it is not labelled 0.

Records at exactly the same timestamp as t are *not* in the future window:
the window is open on the left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from modelformat.defaults import (
    LABEL_LOOKAHEAD_S,
    LABEL_MIN_DIST_SIGMA,
    LABEL_MIN_STD,
    LABEL_THRESHOLD_SIGMA,
)

NS = 1_000_000_000


@dataclass(frozen=True)
class LabelParams:
    lookahead_s: float = LABEL_LOOKAHEAD_S
    threshold_sigma: float = LABEL_THRESHOLD_SIGMA
    min_dist_sigma: float = LABEL_MIN_DIST_SIGMA
    min_std: float = LABEL_MIN_STD

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def window_bounds(symbol_codes: np.ndarray, ts_ns: np.ndarray, lookahead_ns: int) -> tuple:
    """Per record, the half-open index range [lo, hi) of its future window.

    Input must be sorted by (symbol, timestamp). Returns lo, hi and a
    censored mask (window passes the symbol's last timestamp).
    """
    n = len(ts_ns)
    lo = np.empty(n, dtype=np.int64)
    hi = np.empty(n, dtype=np.int64)
    censored = np.empty(n, dtype=bool)
    # Segment boundaries of each symbol in the sorted arrays.
    starts = np.flatnonzero(np.r_[True, symbol_codes[1:] != symbol_codes[:-1]])
    ends = np.r_[starts[1:], n]
    for s, e in zip(starts, ends, strict=True):
        t = ts_ns[s:e]
        lo[s:e] = s + np.searchsorted(t, t, side="right")  # strictly after t
        hi[s:e] = s + np.searchsorted(t, t + lookahead_ns, side="right")  # up to t+L inclusive
        censored[s:e] = t + lookahead_ns > t[-1]
    return lo, hi, censored


def range_extrema(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple:
    """min and max of values[lo[i]:hi[i]] for every i (NaN where empty).

    Sparse-table idea, one level at a time: a range of length m is covered by
    two (overlapping) blocks of length 2^k with k = floor(log2 m). We build
    level k from level k-1 and answer the queries whose k matches, keeping only
    one level in memory: O(n log W) time, O(n) memory, W the longest window.
    """
    nq = len(lo)
    length = hi - lo
    out_min = np.full(nq, np.nan)
    out_max = np.full(nq, np.nan)
    nonempty = length > 0
    if not nonempty.any():
        return out_min, out_max
    k_of = np.zeros(nq, dtype=np.int64)
    k_of[nonempty] = np.floor(np.log2(length[nonempty])).astype(np.int64)
    # Guard against float rounding in log2 at exact powers of two.
    k_of[nonempty] -= (1 << k_of[nonempty]) > length[nonempty]
    k_of[nonempty] += (1 << (k_of[nonempty] + 1)) <= length[nonempty]
    order = np.argsort(k_of[nonempty], kind="stable")
    q_idx = np.flatnonzero(nonempty)[order]
    q_k = k_of[q_idx]
    kmax = int(q_k[-1])
    cur_min = values.astype(np.float64, copy=True)
    cur_max = cur_min.copy()
    pos = 0
    for k in range(kmax + 1):
        if k > 0:
            half = 1 << (k - 1)
            # cur[i] = extremum of values[i : i + 2^k]; entries near the end
            # keep partial blocks, which are never queried past their range.
            np.minimum(cur_min[:-half], cur_min[half:], out=cur_min[:-half])
            np.maximum(cur_max[:-half], cur_max[half:], out=cur_max[:-half])
        end = np.searchsorted(q_k, k, side="right")
        if end > pos:
            qi = q_idx[pos:end]
            a = lo[qi]
            b = hi[qi] - (1 << k)
            out_min[qi] = np.minimum(cur_min[a], cur_min[b])
            out_max[qi] = np.maximum(cur_max[a], cur_max[b])
            pos = end
    return out_min, out_max


def label_sorted(
    symbol_codes: np.ndarray,
    ts_ns: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    params: LabelParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Labels for records sorted by (symbol, timestamp).

    Returns (label int8 array, censored bool array); label is -1 where censored.
    """
    lookahead_ns = round(params.lookahead_s * NS)
    lo, hi, censored = window_bounds(symbol_codes, ts_ns, lookahead_ns)
    fmin, fmax = range_extrema(price, lo, hi)
    sigma = np.maximum(std_dev, params.min_std)
    dist = (price - vwap) / sigma
    with np.errstate(invalid="ignore"):
        down = (price - fmin) / sigma >= params.threshold_sigma
        up = (fmax - price) / sigma >= params.threshold_sigma
    label = np.where(dist > params.min_dist_sigma, down, False)
    label = np.where(dist < -params.min_dist_sigma, up, label).astype(np.int8)
    label[censored] = -1
    return label, censored


def sort_order(symbol_codes: np.ndarray, ts_ns: np.ndarray) -> np.ndarray:
    """Indices that sort records by (symbol, timestamp), stable for ties."""
    return np.lexsort((ts_ns, symbol_codes))


def label_records(
    symbol_codes: np.ndarray,
    ts_ns: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    params: LabelParams,
) -> np.ndarray:
    """Labels in the input's own order (any order); -1 marks censored records."""
    order = sort_order(symbol_codes, ts_ns)
    lab_sorted, _ = label_sorted(
        symbol_codes[order], ts_ns[order], price[order], vwap[order], std_dev[order], params
    )
    out = np.empty_like(lab_sorted)
    out[order] = lab_sorted
    return out
