"""BENCHMARKS.md section: the in-process replica next to the sidecar and the floor.

All four rows come from the same gatebench run (results.json `decisions`).
"""

from __future__ import annotations

from typing import Any

from bench.markdown import fmt_us, table
from bench.summary import LABELS, index, replica_targets

ROWS = ["sigmagate", "replica", "replica-fallback", "echo"]


def section(decisions: list[dict[str, Any]]) -> list[str]:
    idx = index(decisions)
    if not any(t in ("replica", "replica-fallback") for t, _ in idx):
        return []
    lines = [
        "## In-process replica",
        "",
        "The predictor compiles the served tree model into Go (`go/replica`), checks it against "
        "the sidecar on the model's check vectors at every load, and answers from it when the "
        "sidecar cannot (*replica fallback*) or, with `Mode: ModeReplica`, always (*replica "
        "mode*). Same run, same model, same feature vectors as the table above.",
        "",
    ]
    rows = []
    for t in ROWS:
        for c in sorted(c for tt, c in idx if tt == t):
            r = idx[(t, c)]
            lat = r["latency_us"]
            rows.append(
                [LABELS[t], c, f"{r['per_second']:,.0f}", fmt_us(lat["p50"]), fmt_us(lat["p99"]),
                 r["failures"]]
            )  # fmt: skip
    lines += table(["design", "goroutines", "decisions/s", "p50", "p99", "failed"], rows)
    tg = replica_targets(idx)
    if tg:
        lines += table(
            ["target", "measured", "met"],
            [[x["target"], x["measured"], "yes" if x["pass"] else "**no**"] for x in tg],
        )
    return lines
