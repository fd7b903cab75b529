"""Realised σ-reversion: how far each record's price moved toward VWAP, in σ.

The labels (train/labels/labeler.py) ask "did the price revert by `threshold_sigma` σ
toward VWAP within the lookahead?". Here the same window gives the size of the
move, per record, in σ = max(std_dev, min_std) units, signed so that a move
toward VWAP is positive:

* reversion: the best move toward VWAP inside (t, t+L] — for dist > 0,
  (price(t) - min future price)/σ; for dist < 0, (max future price - price(t))/σ.
  A candidate is labelled 1 exactly when |dist| > min_dist and reversion ≥
  threshold_sigma, so this is the quantity the labels threshold.
* move at horizon: the move toward VWAP from price(t) to the last price in the
  window, i.e. what holding the trade to the end of the lookahead realised.

A window with no records (a pause in the feed) realised no move: both are 0,
as its label is 0. Censored records (window past the data's end) have none:
NaN, and they are never in a split. dist == 0 has no direction: NaN.
"""

# ruff: noqa: RUF002, RUF003  (σ is the unit the labels are in)

from __future__ import annotations

import numpy as np

from train.labels.labeler import NS, LabelParams, range_extrema, sort_order, window_bounds


def realised_reversion(
    symbol_codes: np.ndarray,
    ts_ns: np.ndarray,
    price: np.ndarray,
    vwap: np.ndarray,
    std_dev: np.ndarray,
    params: LabelParams,
) -> tuple[np.ndarray, np.ndarray]:
    """(reversion, move at horizon) in σ per record, in the input's own order."""
    order = sort_order(symbol_codes, ts_ns)
    codes, ts, pr = symbol_codes[order], ts_ns[order], price[order]
    lo, hi, censored = window_bounds(codes, ts, round(params.lookahead_s * NS))
    fmin, fmax = range_extrema(pr, lo, hi)
    sigma = np.maximum(std_dev[order], params.min_std)
    direction = np.sign(pr - vwap[order])  # +1: price above VWAP, the reversion is down
    empty = hi <= lo
    last = pr[np.where(empty, lo, hi - 1).clip(max=len(pr) - 1)] if len(pr) else pr
    with np.errstate(invalid="ignore"):
        best = np.where(direction > 0, pr - fmin, fmax - pr) / sigma
        end = direction * (pr - last) / sigma
    best[empty] = 0.0
    end[empty] = 0.0
    for a in (best, end):
        a[censored | (direction == 0)] = np.nan
    out_best, out_end = np.empty_like(best), np.empty_like(end)
    out_best[order], out_end[order] = best, end
    return out_best, out_end
