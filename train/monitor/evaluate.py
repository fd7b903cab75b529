"""Score a model directory on a window of labelled candidates → its figures.

The function a deploy check reuses: `evaluate(served, window)` gives the
figures overall and per symbol at the served thresholds, each precision with
its block-bootstrap samples and interval.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from train.monitor.bootstrap import (
    DEFAULT_BLOCK_LOOKAHEADS,
    DEFAULT_RESAMPLES,
    Blocks,
    at_least_cell_spread,
    interval,
)
from train.monitor.figures import Figures, figures
from train.monitor.served import ServedModel
from train.monitor.window import Window

ALL = "all"  # the overall scope's name (the textfile's symbol="all")


@dataclass
class Scope:
    name: str
    figures: Figures
    threshold: float | None  # None overall when symbols have their own
    precision_lower: float | None
    precision_upper: float | None
    samples: np.ndarray = field(repr=False)  # bootstrap precisions (NaN: no approval drawn)
    # Bootstrap approval rates (same blocks), and the one-lookahead cells holding approvals.
    approval_samples: np.ndarray | None = field(default=None, repr=False)
    approval_cells: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.figures.to_dict(),
            "threshold": self.threshold,
            "precision_lower": self.precision_lower,
            "precision_upper": self.precision_upper,
        }


@dataclass
class Evaluation:
    version: str
    variant: str
    blocks: Blocks
    confidence: float
    overall: Scope
    per_symbol: dict[str, Scope]
    p: np.ndarray = field(repr=False)
    approved: np.ndarray = field(repr=False)
    # Scopes whose outcomes rest on a thinned price path, with the reason (Window.thinned).
    thinned: dict[str, str] = field(default_factory=dict)

    def scopes(self) -> list[Scope]:
        return [self.overall, *self.per_symbol.values()]


def scope_seed(seed: int, name: str) -> int:
    """A fixed, distinct random stream per scope (the same window → the same intervals)."""
    return seed * 1_000_003 + zlib.crc32(name.encode())


def evaluate(
    served: ServedModel,
    window: Window,
    confidence: float = 0.95,
    block_s: float | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Evaluation:
    lookahead = served.label.lookahead_s
    blocks = Blocks(
        t0_ns=window.first_ns,
        t1_ns=window.last_ns,
        lookahead_s=lookahead,
        block_s=block_s if block_s is not None else DEFAULT_BLOCK_LOOKAHEADS * lookahead,
        resamples=resamples,
    )
    p = served.score(window.X)
    thr = served.threshold_of(window.symbols)
    approved = p >= thr  # the bot approves at p ≥ its threshold
    y = window.y.astype(np.int64)

    def scope(name: str, mask: np.ndarray | None, threshold: float | None) -> Scope:
        ys, ps, ap, ts = (
            (y, p, approved, window.ts_ns)
            if mask is None
            else (y[mask], p[mask], approved[mask], window.ts_ns[mask])
        )
        samples = blocks.precision_samples(ts, ys, ap, scope_seed(seed, name))
        cells = len(np.unique(ts[ap] // blocks.cell_ns))
        if ap.any() and not blocks.too_short:
            spread_seed = scope_seed(seed, "cells:" + name)
            samples = at_least_cell_spread(samples, float(ys[ap].mean()), cells, spread_seed)
        lo, hi = interval(samples, confidence) if ap.any() else (None, None)
        a = ap.astype(np.float64)
        rates = blocks.ratio_samples(ts, a, np.ones_like(a), scope_seed(seed, "rate:" + name))
        return Scope(name, figures(ys, ps, ap), threshold, lo, hi, samples, rates, cells)

    per = {}
    for sym in sorted(set(window.symbols.tolist())):
        per[sym] = scope(
            sym, window.symbols == sym, served.symbol_thresholds.get(sym, served.default_threshold)
        )
    overall_thr = None if served.symbol_thresholds else served.default_threshold
    thinned = {name: why for name in [ALL, *per]
               if (why := window.thinned(None if name == ALL else name))}  # fmt: skip
    return Evaluation(
        version=served.version,
        variant=served.variant,
        blocks=blocks,
        confidence=confidence,
        overall=scope(ALL, None, overall_thr),
        per_symbol=per,
        p=p,
        approved=approved,
        thinned=thinned,
    )
