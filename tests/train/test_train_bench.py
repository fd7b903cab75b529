"""Labeling benchmark (`pytest -m bench`, excluded from `make test`).

10,000,000 records over 5 symbols with irregular and duplicate timestamps,
timed against the target of 30 s; the brute-force O(n²) reference is timed
on a size it can finish, and both are checked to agree there.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.train.reference_labels import reference_labels
from train.labels.labeler import LabelParams, label_records

NS = 1_000_000_000


def _records(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    per = n // 5
    codes = np.repeat(np.arange(5), per)
    gaps = rng.exponential(1.0, (5, per)) * (rng.random((5, per)) > 0.03)  # 3 % duplicates
    ts = (np.cumsum(gaps, axis=1) * NS).astype(np.int64).ravel()
    price = 100 + np.cumsum(rng.normal(0, 0.05, 5 * per))
    vwap = price + rng.normal(0, 0.3, 5 * per)
    return codes, ts, price, vwap, np.full(5 * per, 0.2)


@pytest.mark.bench
def test_bench_label_10m_rows_under_30s():
    codes, ts, price, vwap, std = _records(10_000_000)
    t0 = time.perf_counter()
    lab = label_records(codes, ts, price, vwap, std, LabelParams())
    dt = time.perf_counter() - t0
    print(f"\nlabels: 10,000,000 rows in {dt:.2f} s ({len(lab) / dt / 1e6:.2f} M rows/s)")
    assert dt < 30.0


@pytest.mark.bench
def test_bench_bruteforce_reference_vs_vectorised():
    n = 10_000
    codes, ts, price, vwap, std = _records(n, seed=1)
    syms = np.array(["A", "B", "C", "D", "E"])[codes]
    t0 = time.perf_counter()
    want = reference_labels(syms, ts, price, vwap, std)
    t_ref = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = label_records(codes, ts, price, vwap, std, LabelParams())
    t_vec = time.perf_counter() - t0
    days = t_ref * (10_000_000 / n) ** 2 / 86400
    print(
        f"\nlabels on {n} rows: O(n^2) reference {t_ref:.2f} s, vectorised {t_vec * 1e3:.2f} ms; "
        f"the reference would need ~{days:.0f} days for 10 M rows"
    )
    assert (got == want).all()
