"""Splits never let a label window reach across a cut."""

from __future__ import annotations

import numpy as np

from train.data.split import PurgedTimeSeriesSplit, chronological_split

NS = 1_000_000_000


def _times(seed=0, n=5000):
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.choice([0, 1, 2, 3, 400], n, p=[0.1, 0.4, 0.3, 0.19, 0.01]) * NS)
    rng.shuffle(ts)  # the splitter must not rely on input order
    return ts.astype(np.int64)


def test_chronological_split_keeps_an_embargo_of_the_lookahead_between_parts():
    ts = _times()
    emb = 60 * NS
    sp = chronological_split(ts, emb)
    tr, va, te = ts[sp.train], ts[sp.validation], ts[sp.test]
    assert tr.max() + emb < va.min()  # every train window (t, t+60] ends before validation
    assert va.max() + emb < te.min()
    assert len(set(sp.train) | set(sp.validation) | set(sp.test)) == len(ts) - sp.embargoed
    assert sp.embargoed > 0
    assert (np.diff(tr) >= 0).all() and (np.diff(te) >= 0).all()


def test_purged_folds_train_strictly_before_test_with_gap():
    ts = _times(1)
    emb = 60 * NS
    folds = list(PurgedTimeSeriesSplit(ts, n_splits=4, embargo_ns=emb).split(ts))
    assert len(folds) == 4
    for tr, te in folds:
        assert ts[tr].max() + emb < ts[te].min()
        assert not set(tr) & set(te)
    # expanding window: later folds train on more rows
    assert [len(tr) for tr, _ in folds] == sorted(len(tr) for tr, _ in folds)
