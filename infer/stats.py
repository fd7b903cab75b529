"""Counters and a recent-latency window for the `stats` method."""

from __future__ import annotations

import time
from collections import Counter, deque
from itertools import repeat
from typing import Any

import numpy as np

# Latencies of the most recent requests kept for percentiles.
WINDOW = 8192


class Stats:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.requests = 0
        self.records = 0
        self.batches = 0
        self.reloads = 0
        self.failed_reloads = 0
        self.errors: Counter[str] = Counter()
        self._latency_ns: deque[int] = deque(maxlen=WINDOW)
        # The byte-level path counts a one-record request (a request, a record and
        # a batch) with one counter and appends its latency with no Python call between.
        self.singles = 0
        self.observe_one = self._latency_ns.append

    def observe(self, latency_ns: int, requests: int) -> None:
        """Every request of one batch shares the batch's decode-to-encode latency."""
        self._latency_ns.extend(repeat(latency_ns, requests))

    def snapshot(self, model_loaded_mono: float | None) -> dict[str, Any]:
        now = time.monotonic()
        lat: dict[str, float | None] = dict.fromkeys(("p50", "p90", "p99", "p999"))
        if self._latency_ns:
            arr = np.fromiter(self._latency_ns, dtype=np.float64) / 1000.0
            # Nearest-rank, as every published percentile of the project (docs/BENCHMARKS.md).
            q = np.percentile(arr, [50, 90, 99, 99.9], method="inverted_cdf")
            lat = {k: round(float(v), 2) for k, v in zip(lat, q, strict=True)}
        return {
            "requests": self.requests + self.singles,
            "records": self.records + self.singles,
            "batches": self.batches + self.singles,
            "errors": dict(self.errors),
            "reloads": self.reloads,
            "failed_reloads": self.failed_reloads,
            "latency_us": lat,
            "uptime_s": round(now - self.started, 3),
            "model_age_s": None if model_loaded_mono is None else round(now - model_loaded_mono, 3),
        }
