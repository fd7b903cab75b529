"""The float32 line for the Scaler-fold tests: special values, ulp steps, random bit patterns."""

from __future__ import annotations

import numpy as np

F32 = np.float32
INF, MAX, TINY = F32(np.inf), np.finfo(F32).max, np.finfo(F32).smallest_subnormal
SPECIAL = np.array([0.0, -0.0, INF, -INF, MAX, -MAX, TINY, -TINY, 1.0, -1.0], dtype=F32)


def ulps(x: np.ndarray, k: int) -> np.ndarray:
    """x moved k ulps along the float32 line (stops at ±inf)."""
    with np.errstate(over="ignore"):
        for _ in range(abs(k)):
            x = np.nextafter(x, F32(np.inf) if k > 0 else F32(-np.inf))
    return x


def random_float32(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform over bit patterns: every exponent, subnormals and ±inf included; no NaN."""
    x = rng.integers(0, 2**32, size=shape, dtype=np.uint64).astype(np.uint32).view(F32)
    return np.where(np.isnan(x), F32(0.0), x)
