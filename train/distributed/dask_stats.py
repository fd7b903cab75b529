"""Exact statistics of a distributed column without moving it to the client.

Order statistics come from a two-pass histogram (count per bucket, then only
the one bucket's values), moments are merged pairwise (Chan et al.), so the
client only ever holds per-partition summaries.
"""

from __future__ import annotations

import numpy as np

BINS = 1 << 16


def kth(client, parts: list, ks: list[int]) -> list[float]:
    """The exact k-th smallest values (0-based) of a column split over delayed
    numpy parts, in two passes of a BINS-bucket histogram."""
    from dask import delayed

    ext = client.compute(
        [delayed(lambda a: (a.min(), a.max()) if len(a) else None)(p) for p in parts]
    )
    mm = [m for m in client.gather(ext) if m is not None]
    lo, hi = float(min(m[0] for m in mm)), float(max(m[1] for m in mm))
    width = (hi - lo) / BINS or 1.0

    def bucket(a):
        return np.clip(((a.astype(np.float64) - lo) / width).astype(np.int64), 0, BINS - 1)

    hists = client.gather(
        client.compute(
            [delayed(lambda a: np.bincount(bucket(a), minlength=BINS))(p) for p in parts]
        )
    )
    cum = np.cumsum(np.sum(hists, axis=0))
    out = []
    for k in ks:
        b = int(np.searchsorted(cum, k, side="right"))
        before = int(cum[b - 1]) if b else 0
        vals = client.gather(
            client.compute([delayed(lambda a, b=b: a[bucket(a) == b])(p) for p in parts])
        )
        out.append(np.sort(np.concatenate(vals))[k - before])
    return out


def moments(client, parts: list) -> tuple[np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """Exact mean, std (ddof 0), count, min, max per column, merged pairwise (Chan)."""
    from dask import delayed

    def one(a):
        a = a.astype(np.float64)
        if len(a) == 0:
            return 0, 0.0, 0.0, np.inf, -np.inf
        m = a.mean(axis=0)
        return len(a), m, ((a - m) ** 2).sum(axis=0), a.min(axis=0), a.max(axis=0)

    n, mean, m2, mn, mx = 0, 0.0, 0.0, np.inf, -np.inf
    for nb, mb, m2b, mnb, mxb in client.gather(client.compute([delayed(one)(p) for p in parts])):
        if nb == 0:
            continue
        tot = n + nb
        d = mb - mean
        mean = mean + d * nb / tot
        m2 = m2 + m2b + d * d * n * nb / tot
        n, mn, mx = tot, np.minimum(mn, mnb), np.maximum(mx, mxb)
    return np.asarray(mean), np.sqrt(np.asarray(m2) / max(n, 1)), n, np.asarray(mn), np.asarray(mx)


def count_codes(client, y, lowest: int) -> dict[int, int]:
    """How many rows carry each y code, from `lowest` to 1 (a reduction; value_counts
    would shuffle). Empty partitions count nothing."""
    from dask import delayed

    parts = y.values.to_delayed().ravel()
    width = 2 - lowest
    hists = client.gather(
        client.compute(
            [
                delayed(lambda a: np.bincount(a.astype(np.int64) - lowest, minlength=width))(p)
                for p in parts
            ]
        )
    )
    total = np.sum(hists, axis=0)
    return {code: int(n) for code, n in zip(range(lowest, 2), total, strict=True)}


def kth_columns(client, parts: list, n: int) -> list[tuple[float, float]]:
    """np.quantile's (linear) 0.1 % and 99.9 % per column, from exact order statistics."""
    from dask import delayed

    out = []
    ncol = client.compute(delayed(lambda a: a.shape[1])(parts[0])).result()
    for j in range(ncol):
        col = [delayed(lambda a, j=j: a[:, j])(p) for p in parts]
        qs = []
        for qq in (0.001, 0.999):
            pos = qq * (n - 1)
            k = int(np.floor(pos))
            a, b = (float(v) for v in kth(client, col, [k, min(n - 1, k + 1)]))
            qs.append(a + (b - a) * (pos - k))
        out.append((qs[0], qs[1]))
    return out
