"""The Scaler folded into tree thresholds (train/onnx/fold_scaler.py) changes no output bit."""

from __future__ import annotations

import numpy as np

from tests.train.float32_line import F32, INF, MAX, SPECIAL, TINY, random_float32, ulps
from train.onnx.fold_scaler import fold_thresholds, scaler_output


def _assert_same_side(x: np.ndarray, t_new: np.ndarray, t: np.ndarray, o, s) -> None:
    """x <= t' ⇔ (x - o)·s <= t, elementwise with broadcasting, reporting a counterexample."""
    with np.errstate(invalid="ignore"):
        lhs = x <= t_new
    rhs = scaler_output(x, o, s) <= t
    bad = np.argwhere(lhs != rhs)
    assert not len(bad), f"{len(bad)} mismatches, first at {tuple(bad[0])}"


def _cases(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, offset, scale): StandardScaler-like, arbitrary and extreme ones."""
    # Power-of-two scales and float32 means, as train.model.models.exact_scaler makes them.
    o1 = rng.normal(0, 1, n).astype(F32) * F32(10.0) ** rng.integers(-3, 5, n).astype(F32)
    s1 = np.exp2(rng.integers(-12, 8, n)).astype(F32)
    t1 = rng.normal(0, 2, n).astype(F32)
    # Arbitrary scales: the product rounds, several x can share one scaled value.
    o2 = rng.normal(60000, 30, n).astype(F32)
    s2 = rng.uniform(1e-3, 50, n).astype(F32)
    t2 = rng.normal(0, 3, n).astype(F32)
    # Thresholds scikit-learn would never pick, and offsets/scales that overflow.
    t3 = np.array([INF, -INF, 0.0, -0.0, MAX, -MAX, TINY, -TINY, 1e38, -1e38, 5, -5], dtype=F32)
    o3 = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, -3e38, -3e38, 3e38], dtype=F32)
    s3 = np.array([1, 1, 1, 1, 4, 4, 1, 1, 2.0**-10, 1, 2, 2], dtype=F32)
    return (np.concatenate(v) for v in ((t1, t2, t3), (o1, o2, o3), (s1, s2, s3)))


def test_folded_threshold_splits_every_float32_as_the_scaler_did():
    rng = np.random.default_rng(0)
    t, o, s = _cases(rng, 400)
    t_new = fold_thresholds(t, o, s)
    assert t_new.dtype == F32 and not np.any(np.isnan(t_new))
    col = (slice(None), None)
    # ±50 ulps around each folded threshold: the boundary itself is where it matters.
    near = np.stack([ulps(t_new, k) for k in range(-50, 51)], axis=1)
    _assert_same_side(near, t_new[col], t[col], o[col], s[col])
    # Around the raw-space preimage t/s + o (what a naive fold would use), ±50 ulps.
    with np.errstate(over="ignore", invalid="ignore"):
        pre = np.nan_to_num((t.astype(np.float64) / s + o).astype(F32), nan=0.0)
    pre = np.stack([ulps(pre, k) for k in range(-50, 51)], axis=1)
    _assert_same_side(pre, t_new[col], t[col], o[col], s[col])
    # Anywhere on the line, plus the special values, for every case.
    special = np.broadcast_to(SPECIAL, (len(t), len(SPECIAL)))
    anywhere = np.concatenate([random_float32(rng, (len(t), 2000)), special], axis=1)
    _assert_same_side(anywhere, t_new[col], t[col], o[col], s[col])
    # NaN: both comparisons are false.
    nan = np.full((len(t), 1), np.nan, dtype=F32)
    _assert_same_side(nan, t_new[col], t[col], o[col], s[col])


def _rank(x: np.ndarray) -> np.ndarray:
    """Position on the ordered float32 line: -0.0 → -1, +0.0 → 0, next float → +1."""
    b = np.asarray(x, dtype=F32).view(np.uint32).astype(np.int64)
    return np.where(b < 2**31, b, 2**31 - 1 - b)


def _of_rank(r: np.ndarray) -> np.ndarray:
    return np.where(r >= 0, r, 2**31 - 1 - r).astype(np.uint32).view(F32)


def test_folded_threshold_exhaustively_on_a_window_of_the_float32_line():
    # Every float32 within 2^15 ulps of each folded threshold (crossing ±0 where near it).
    rng = np.random.default_rng(1)
    t, o, s = (a[::4] for a in _cases(rng, 40))
    t_new = fold_thresholds(t, o, s)
    lo, hi = _rank(-INF), _rank(INF)
    for ti, oi, si, tn in zip(t, o, s, t_new, strict=True):
        r = int(_rank(tn))
        window = _of_rank(np.arange(max(lo, r - 2**15), min(hi, r + 2**15) + 1))
        _assert_same_side(window, tn, ti, oi, si)


def test_edge_thresholds_fold_to_the_right_extremes():
    t = np.array([INF, 1e38, -1e38, -INF], dtype=F32)
    o = np.array([0, 0, -3e38, 0], dtype=F32)
    s = np.array([1, 2.0**-10, 1, 1], dtype=F32)
    got = fold_thresholds(t, o, s)
    # all x qualify (+inf included) | all finite x | no finite x (only -inf) | only -inf
    np.testing.assert_array_equal(got, np.array([INF, MAX, -INF, -INF], dtype=F32))


# ---------------------------------------------------------------------------
# onnxruntime: the folded graph answers bit for bit what the Scaler graph did.
