"""The `stats` method's latency percentiles: nearest-rank, like every published figure."""

from __future__ import annotations

from infer.stats import Stats


def test_latency_percentiles_are_nearest_rank_over_the_recent_window() -> None:
    s = Stats()
    assert s.snapshot(None)["latency_us"] == dict.fromkeys(("p50", "p90", "p99", "p999"))
    for us in range(1, 11):  # 1 … 10 µs
        s.observe_one(us * 1000)
    lat = s.snapshot(None)["latency_us"]
    # Nearest-rank: the smallest value with at least that share at or below it (linear
    # interpolation would give 5.5, 9.1, 9.91, 9.991).
    assert lat == {"p50": 5.0, "p90": 9.0, "p99": 10.0, "p999": 10.0}
    s.observe(2000, 3)  # one batch of three requests: each is credited its latency
    snap = s.snapshot(None)
    assert snap["latency_us"]["p50"] == 4.0  # 1, 2, 2, 2, 2, 3, 4 … 10: the 7th of 13
