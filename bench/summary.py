"""Derived figures: ratios between designs and the pass/fail of each target.

Everything here is computed from gatebench's measurements; no number is typed in
except the targets themselves, the constants below.
"""

from __future__ import annotations

import re
from typing import Any

from bench import report_compare
from bench.families import REFERENCE

TARGET_ORDER = [
    "sigmagate", "replica", "replica-fallback", "onnxruntime", "infer", "echo", "http",
    "reference", "fallback",
]  # fmt: skip
LABELS = {
    "sigmagate": "sigmagate (predictor→infer)",
    "infer": "infer, gatebench client",
    "echo": "echo floor",
    "http": "HTTP+JSON service",
    "reference": "reference: process/prediction",
    "fallback": "fallback heuristic",
    "replica": "replica mode (in-process)",
    "replica-fallback": "replica fallback (sidecar down)",
    "onnxruntime": "onnxruntime in process (Go, per row)",
}

# The sidecar path's targets: p50 against the echo floor, throughput at 64
# goroutines, speed-up over the reference design.
P50_VS_FLOOR_MAX = 2.0
MIN_RATE_AT_64 = 200_000
MIN_SPEEDUP_VS_REFERENCE = 1000.0
# The in-process replica's targets.
REPLICA_P50_MAX_US = 1.5
REPLICA_MIN_RATE_AT_64 = 1_000_000


def index(decisions: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    return {(r["target"], r["concurrency"]): r for r in decisions}


def ratios(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair by pair, at each goroutine count measured for both designs."""
    idx = index(decisions)
    concs = sorted({c for _, c in idx})
    rows = []
    pairs = [
        ("sigmagate", "echo", "sigmagate / floor"),
        ("replica", "echo", "replica mode / floor"),
        ("infer", "echo", "infer (same client) / floor"),
        ("reference", "sigmagate", "reference / sigmagate"),
        ("http", "sigmagate", "HTTP / sigmagate"),
    ]
    for a, b, name in pairs:
        for c in concs:
            ra, rb = idx.get((a, c)), idx.get((b, c))
            if not ra or not rb or not rb["per_second"] or not rb["latency_us"]["p50"]:
                continue
            rows.append(
                {
                    "pair": name,
                    "concurrency": c,
                    "p50": ra["latency_us"]["p50"] / rb["latency_us"]["p50"],
                    "p99": ra["latency_us"]["p99"] / rb["latency_us"]["p99"],
                    # How many times fewer decisions per second a makes than b.
                    "throughput": rb["per_second"] / ra["per_second"] if ra["per_second"] else None,
                }
            )
    return rows


def targets(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    idx = index(decisions)
    out = []

    sg1, echo1 = idx.get(("sigmagate", 1)), idx.get(("echo", 1))
    if sg1 and echo1:
        v = sg1["latency_us"]["p50"] / echo1["latency_us"]["p50"]
        out.append(
            {
                "target": f"sigmagate p50 ≤ {P50_VS_FLOOR_MAX:g}x the echo floor (1 goroutine)",
                "measured": f"{v:.2f}x ({sg1['latency_us']['p50']:.1f} µs vs "
                f"{echo1['latency_us']['p50']:.1f} µs)",
                "pass": v <= P50_VS_FLOOR_MAX,
            }
        )
    sg64 = idx.get(("sigmagate", 64))
    if sg64:
        out.append(
            {
                "target": f"≥ {MIN_RATE_AT_64:,} decisions/s at 64 goroutines",
                "measured": f"{sg64['per_second']:,.0f} /s",
                "pass": sg64["per_second"] >= MIN_RATE_AT_64 and sg64["failures"] == 0,
            }
        )
    sg = [r for r in decisions if r["target"] == "sigmagate"]
    ref = [r for r in decisions if r["target"] == "reference"]
    if sg and ref:
        best_sg = max(sg, key=lambda r: r["per_second"])
        best_ref = max(ref, key=lambda r: r["per_second"])
        v = best_sg["per_second"] / best_ref["per_second"]
        out.append(
            {
                "target": f"≥ {MIN_SPEEDUP_VS_REFERENCE:,.0f}x the reference design's throughput "
                "(best of each)",
                "measured": f"{v:,.0f}x ({best_sg['per_second']:,.0f} /s at "
                f"{best_sg['concurrency']} vs {best_ref['per_second']:,.1f} /s at "
                f"{best_ref['concurrency']} goroutines)",
                "pass": v >= MIN_SPEEDUP_VS_REFERENCE,
            }
        )
    out += replica_targets(idx)
    return out


def compare_targets(cmp: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Batching's targets, from the rounds that alternate the baseline commit,
    this commit and in-process onnxruntime (bench/compare.py): medians only,
    since one round moves with the shared machine's load."""
    by = {
        key: report_compare.median([r["per_second"] for r in rs])
        for key, rs in report_compare.rounds_by_build(cmp).items()
    }
    out = []
    new1, new8, new64 = by.get(("current", 1)), by.get(("current", 8)), by.get(("current", 64))
    if new1 and new8:
        out.append(
            {
                "target": "8 goroutines beat 1 (this commit, median of the rounds)",
                "measured": f"{new8:,.0f} /s vs {new1:,.0f} /s: {new8 / new1:.2f}x",
                "pass": new8 > new1,
            }
        )
    for build, label in (
        ("baseline", "the baseline commit"),
        ("onnxruntime", "onnxruntime in process, per row"),
    ):
        other = by.get((build, 64))
        if new64 and other:
            out.append(
                {
                    "target": f"64 goroutines: at least {label} (same run, median of the rounds)",
                    "measured": f"{new64:,.0f} /s vs {other:,.0f} /s: {new64 / other:.2f}x",
                    "pass": new64 >= other,
                }
            )
    return out


def replica_targets(idx: dict[tuple[str, int], dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    r1, r64 = idx.get(("replica", 1)), idx.get(("replica", 64))
    if r1:
        p50 = r1["latency_us"]["p50"]
        out.append(
            {
                "target": f"replica mode p50 ≤ {REPLICA_P50_MAX_US:g} µs (1 goroutine)",
                "measured": f"{p50:.2f} µs",
                "pass": p50 <= REPLICA_P50_MAX_US and r1["failures"] == 0,
            }
        )
    if r64:
        out.append(
            {
                "target": f"replica mode ≥ {REPLICA_MIN_RATE_AT_64:,} decisions/s at 64 goroutines",
                "measured": f"{r64['per_second']:,.0f} /s",
                "pass": r64["per_second"] >= REPLICA_MIN_RATE_AT_64 and r64["failures"] == 0,
            }
        )
    return out


# A client that blocks in read(2) for every answer, beside the echo floor
# driven by that same client (bench/sidecar_pipe.py); and idle CPU.
MAX_IDLE_CORE_PCT = 2.0


def pipe_targets(pipe_json: dict[str, Any] | None, idle: dict[str, Any] | None) -> list[dict]:
    out: list[dict[str, Any]] = []
    r = ((pipe_json or {}).get("rtt") or {}).get("default_spin, blocking client")
    if r and "ratio_p50" in r:
        out.append(
            {
                "target": f"infer p50 ≤ {P50_VS_FLOOR_MAX:g}x the echo floor, "
                "blocking Python client",
                "measured": f"{r['ratio_p50']:.2f}x ({r['sidecar']['p50_us']:.1f} µs vs "
                f"{r['echo']['p50_us']:.1f} µs)",
                "pass": r["ratio_p50"] <= P50_VS_FLOOR_MAX,
            }
        )
    still = next((p for p in (idle or {}).get("phases", []) if p.get("decisions") == 0), None)
    if still:
        worst = max(still["go_core_pct"], still["sidecar_core_pct"])
        out.append(
            {
                "target": f"idle CPU < {MAX_IDLE_CORE_PCT:g} % of a core (predictor and sidecar)",
                "measured": f"Go {still['go_core_pct']:.3f} %, sidecar "
                f"{still['sidecar_core_pct']:.3f} % over {still['seconds']:.0f} s",
                "pass": worst < MAX_IDLE_CORE_PCT,
            }
        )
    return out


# The outcome monitor's target: `train monitor` over 10⁶ recorded candidates in
# under a minute, read from the line its pytest benchmark prints
# (tests/train/test_train_monitor_bench.py) into the `pytest -m bench` suite's output.
MONITOR_MAX_S = 60.0
_MONITOR_LINE = re.compile(r"^train monitor: ([\d,]+) records in ([\d.]+) s \(exit (\d+)\)", re.M)


def monitor_target(suites: list[dict[str, Any]] | None) -> list[dict]:
    """The monitor's row of the targets table, or none when its benchmark printed no figure."""
    for s in suites or []:
        m = _MONITOR_LINE.search("\n".join(s.get("output") or []))
        if not m:
            continue
        records, seconds, code = int(m[1].replace(",", "")), float(m[2]), int(m[3])
        verdict = "healthy" if code == 0 else f"exit {code}"
        return [
            {
                "target": f"`train monitor` on 10⁶ records < {MONITOR_MAX_S:g} s",
                "measured": f"{seconds:.1f} s for {records:,} records ({verdict})",
                "pass": records >= 1_000_000 and seconds < MONITOR_MAX_S and code == 0,
            }
        ]
    return []


# The default family's target: `train fit --search fast` (the default family, its
# report included) at 10⁶ rows in under 90 s, within 5x one early-stopped
# LightGBM fit on the same rows in the same run (bench/families.py).
FIT_MAX_S = 90.0
FIT_VS_REFERENCE_MAX = 5.0
FIT_TARGET_ROWS = 1_000_000


def fit_target(
    fits: list[dict[str, Any]] | None, family_rows: list[dict[str, Any]] | None
) -> list[dict]:
    """The default family's row of the targets table, or none when either fit is missing."""
    fit = next(
        (f for f in fits or [] if f["rows"] == FIT_TARGET_ROWS and f["search"] == "fast"), None
    )
    ref = next(
        (r for r in family_rows or [] if r["rows"] == FIT_TARGET_ROWS and r["family"] == REFERENCE),
        None,
    )
    if not fit or not ref or fit.get("status") != "done" or not ref["status"].startswith("ok"):
        return []
    ratio = fit["wall_s"] / ref["wall_s"]
    return [
        {
            "target": f"`train fit --search fast` (default family) at 10⁶ rows < {FIT_MAX_S:g} s "
            f"and ≤ {FIT_VS_REFERENCE_MAX:g}x one early-stopped LightGBM fit",
            "measured": f"{fit['wall_s']:.0f} s ({fit.get('family')}, report included) vs "
            f"{ref['wall_s']:.0f} s: {ratio:.1f}x",
            "pass": fit["wall_s"] < FIT_MAX_S and ratio <= FIT_VS_REFERENCE_MAX,
        }
    ]
