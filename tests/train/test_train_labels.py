"""Labels: the vectorised implementation agrees with the brute-force definition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.train.reference_labels import reference_labels
from train.labels.labeler import LabelParams, label_records, range_extrema

NS = 1_000_000_000


def _random_records(rng: np.random.Generator, n: int, shuffle: bool):
    syms = rng.choice(np.array(["BTCUSDT", "ETHUSDT", "SOLUSDT"]), n)
    # Steps of 0 make duplicate timestamps; 100-300 s steps make gaps longer than the window.
    steps = rng.choice([0, 0, 1, 2, 5, 30, 100, 300], n) * NS + rng.integers(0, 3, n) * (NS // 4)
    ts = np.cumsum(steps).astype(np.int64)
    if shuffle:
        rng.shuffle(ts)
    price = 100 + np.cumsum(rng.normal(0, 0.3, n))
    vwap = price + rng.normal(0, 0.5, n)
    std = rng.uniform(0.02, 0.6, n)  # some below min_std: the floor applies
    return syms, ts, price, vwap, std


def _codes(syms):
    return np.unique(syms, return_inverse=True)[1]


@pytest.mark.parametrize("seed", range(12))
def test_labels_match_bruteforce_reference_with_gaps_duplicates_and_symbols(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 500))
    syms, ts, price, vwap, std = _random_records(rng, n, shuffle=seed % 2 == 1)
    params = LabelParams(lookahead_s=float(rng.choice([1.0, 30.0, 60.0])))
    got = label_records(_codes(syms), ts, price, vwap, std, params)
    want = reference_labels(syms, ts, price, vwap, std, params.lookahead_s)
    assert (got == want).all(), np.flatnonzero(got != want)[:10]
    assert set(np.unique(got)) <= {-1, 0, 1}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B"]),
            st.integers(0, 200),  # seconds: many ties, many gaps
            st.floats(90, 110),
            st.floats(-2, 2),
            st.floats(0.0, 1.0),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_labels_match_reference_on_arbitrary_records(rows):
    syms = np.array([r[0] for r in rows])
    ts = np.array([r[1] * NS for r in rows], dtype=np.int64)
    price = np.array([r[2] for r in rows])
    vwap = price - np.array([r[3] for r in rows])
    std = np.array([r[4] for r in rows])
    params = LabelParams(lookahead_s=20.0, threshold_sigma=1.0)
    got = label_records(_codes(syms), ts, price, vwap, std, params)
    want = reference_labels(syms, ts, price, vwap, std, 20.0, threshold_sigma=1.0)
    assert (got == want).all()


def test_window_past_the_end_is_censored_not_labelled_zero():
    ts = np.array([0, 10, 20, 70], dtype=np.int64) * NS
    price = np.array([100.0, 100.0, 100.0, 100.0])
    lab = label_records(np.zeros(4, int), ts, price, price - 1, np.ones(4), LabelParams())
    # t=0 and t=10 see t+60 ≤ 70; t=20 (window to 80) and t=70 run past the last record.
    assert lab.tolist() == [0, 0, -1, -1]


def test_records_at_the_same_timestamp_are_not_in_the_future_window():
    ts = np.array([0, 0, 100], dtype=np.int64) * NS
    price = np.array([103.0, 100.0, 103.0])  # the drop happens at the same instant
    lab = label_records(np.zeros(3, int), ts, price, np.full(3, 100.0), np.ones(3), LabelParams())
    assert lab[0] == 0  # the 100.0 print shares t: not future, and t=100 is outside (t, t+60]


def test_reversion_by_threshold_sigma_within_lookahead_is_label_one():
    ts = np.array([0, 30, 59, 61, 200], dtype=np.int64) * NS
    # dist=+2 at t=0; falls by exactly 1.5 sigma at t=30 → 1. dist=-1 at t=59: rises by 1.0 → 0.
    price = np.array([102.0, 100.5, 99.0, 100.0, 100.0])
    vwap = np.array([100.0, 100.0, 100.0, 100.0, 100.0])
    lab = label_records(np.zeros(5, int), ts, price, vwap, np.ones(5), LabelParams())
    assert lab[0] == 1
    assert lab[2] == 0


def test_range_extrema_agree_with_slices():
    rng = np.random.default_rng(3)
    v = rng.normal(size=1000)
    lo = rng.integers(0, 1000, 500)
    hi = np.minimum(1000, lo + rng.integers(0, 300, 500))
    mn, mx = range_extrema(v, lo, hi)
    for i in range(500):
        if hi[i] > lo[i]:
            assert mn[i] == v[lo[i] : hi[i]].min() and mx[i] == v[lo[i] : hi[i]].max()
        else:
            assert np.isnan(mn[i]) and np.isnan(mx[i])
