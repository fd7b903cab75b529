"""Brute-force O(n²) sigma-reversion labels: the executable definition.

Written for clarity, not speed: for every record it scans all records of the
same symbol. `train.labels.labeler` must agree with it exactly. The bench engineer
imports `reference_labels` to time the naive approach.
"""

from __future__ import annotations

import numpy as np

from modelformat.defaults import (
    LABEL_LOOKAHEAD_S,
    LABEL_MIN_DIST_SIGMA,
    LABEL_MIN_STD,
    LABEL_THRESHOLD_SIGMA,
)


def reference_labels(
    symbols: list[str] | np.ndarray,
    ts_s: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    lookahead_s: float = LABEL_LOOKAHEAD_S,
    threshold_sigma: float = LABEL_THRESHOLD_SIGMA,
    min_dist_sigma: float = LABEL_MIN_DIST_SIGMA,
    min_std: float = LABEL_MIN_STD,
) -> np.ndarray:
    """Labels in input order: 1 reverted, 0 not, -1 censored (window past the data).

    ts_s are integer nanoseconds or float seconds; lookahead_s is in seconds and
    is scaled to match when ts_s is an integer array of nanoseconds.
    """
    symbols = np.asarray(symbols)
    ts = np.asarray(ts_s)
    scale = 1_000_000_000 if np.issubdtype(ts.dtype, np.integer) else 1
    horizon = round(lookahead_s * scale) if scale != 1 else lookahead_s
    n = len(ts)
    out = np.zeros(n, dtype=np.int8)
    last = {s: ts[symbols == s].max() for s in set(symbols.tolist())}
    for i in range(n):
        t = ts[i]
        if t + horizon > last[symbols[i]]:
            out[i] = -1
            continue
        sigma = max(std_dev[i], min_std)
        dist = (price[i] - vwap[i]) / sigma
        if abs(dist) <= min_dist_sigma:
            continue
        best = 0.0
        for j in range(n):
            if symbols[j] != symbols[i] or not (t < ts[j] <= t + horizon):
                continue
            move = (price[i] - price[j]) if dist > 0 else (price[j] - price[i])
            best = max(best, move / sigma)
        out[i] = 1 if best >= threshold_sigma else 0
    return out
