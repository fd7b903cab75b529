"""The sidecar's pipe targets, measured by bench/sidecar_pipe.py (run: pytest -m bench)."""

from __future__ import annotations

import json

import pytest

from bench.sidecar_pipe import run


@pytest.mark.bench
def test_sidecar_round_trip_and_throughput_meet_targets() -> None:
    result = run(quick=False, spins=[None])
    print(json.dumps(result, indent=2))
    rtt = result["rtt"]["default_spin"]
    assert "echo" in rtt, "go/bench/cmd/pipeecho was not built: no floor to compare with"
    assert rtt["ratio_p50"] <= 2.0, rtt
    single = next(t for t in result["throughput"] if t["records_per_request"] == 1)
    assert single["errors"] == {}
    best = max(t["records_per_s"] for t in result["throughput"])
    assert best >= 200_000, result["throughput"]
