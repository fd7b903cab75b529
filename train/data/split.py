"""Leakage-safe splits: chronological train/validation/test and purged CV folds.

A label at time t looks at prices in (t, t + lookahead]. A training row whose
window reaches into a later split would leak that split's prices into
training, so every cut leaves a gap (the embargo, at least the lookahead)
before it: rows inside the gap are dropped and counted.
"""
# ruff: noqa: N803  (X is scikit-learn's name for a feature matrix)

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    train: np.ndarray  # row indices
    validation: np.ndarray
    test: np.ndarray
    embargoed: int
    cuts_ns: tuple[int, int]


def chronological_split(
    ts_ns: np.ndarray, embargo_ns: int, fractions: tuple[float, float] = (0.6, 0.2)
) -> Split:
    """train: t < c1 - E; validation: c1 ≤ t < c2 - E; test: t ≥ c2.

    The cuts c1, c2 are the time quantiles at `fractions` (train, +validation).
    Every train label window ends before c1, every validation one before c2.
    """
    n = len(ts_ns)
    srt = np.sort(ts_ns)
    c1 = int(srt[min(n - 1, int(n * fractions[0]))])
    c2 = int(srt[min(n - 1, int(n * (fractions[0] + fractions[1])))])
    train = np.flatnonzero(ts_ns < c1 - embargo_ns)
    val = np.flatnonzero((ts_ns >= c1) & (ts_ns < c2 - embargo_ns))
    test = np.flatnonzero(ts_ns >= c2)
    embargoed = n - len(train) - len(val) - len(test)
    # Each part sorted by time, so "most recent rows" is a tail slice.
    train, val, test = (ix[np.argsort(ts_ns[ix], kind="stable")] for ix in (train, val, test))
    return Split(train, val, test, embargoed, (c1, c2))


class PurgedTimeSeriesSplit:
    """Time-ordered expanding-window folds with a time gap before each test block.

    Like scikit-learn's TimeSeriesSplit, but the gap is measured in time (the
    data's timestamps are irregular) and rows of the training part whose label
    window would reach into the test block are purged. Never shuffles.
    Usable as `cv=` in scikit-learn: `split(X)` needs X in the order of `ts_ns`.
    """

    def __init__(self, ts_ns: np.ndarray, n_splits: int = 5, embargo_ns: int = 0):
        if n_splits < 2:
            raise ValueError("n_splits must be at least 2")
        self.ts_ns = np.asarray(ts_ns)
        self.n_splits = n_splits
        self.embargo_ns = embargo_ns

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def split(self, X=None, y=None, groups=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.ts_ns)
        if X is not None and len(X) != n:
            raise ValueError(f"X has {len(X)} rows, the splitter was built for {n}")
        order = np.argsort(self.ts_ns, kind="stable")
        bounds = np.linspace(0, n, self.n_splits + 2).astype(int)
        for k in range(1, self.n_splits + 1):
            test = order[bounds[k] : bounds[k + 1]]
            if len(test) == 0:
                continue
            start = self.ts_ns[test].min()
            train = order[: bounds[k]]
            train = train[self.ts_ns[train] < start - self.embargo_ns]
            if len(train) == 0:
                continue
            yield train, test
