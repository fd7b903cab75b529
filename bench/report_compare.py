"""BENCHMARKS.md section: the baseline commit, this checkout and in-process
onnxruntime, alternated round by round in one run (results.json
`decisions.comparison`, measured by bench/compare.py)."""

from __future__ import annotations

import math
from typing import Any

from bench.markdown import fmt_us, rate, table

BUILD_LABELS = {
    "baseline": "sigmagate at the baseline commit",
    "current": "sigmagate at this commit",
    "onnxruntime": "onnxruntime in process (Go, per row)",
}


def median(xs: list[float]) -> float:
    """Nearest-rank median, the page's one percentile definition."""
    s = sorted(xs)
    return s[max(0, math.ceil(0.5 * len(s)) - 1)]


def rounds_by_build(cmp: dict[str, Any] | None) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """The comparison's rounds by (build, goroutines), in round order."""
    by: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in (cmp or {}).get("rounds") or []:
        by.setdefault((r["build"], r["concurrency"]), []).append(r)
    return by


def section(
    cmp: dict[str, Any] | None, pipe: dict[str, Any] | None = None, cores: int | None = None
) -> list[str]:
    """pipe: bench/sidecar_pipe.py's output (results.json `pipe.json`), for the
    sidecar's own ceiling; None leaves that paragraph out. cores: the
    machine's, for the CPU bound on throughput; None leaves that out."""
    if not cmp:
        return []
    commit = str(cmp.get("baseline_commit", "?"))[:12]
    lines = [
        "## Old against new against onnxruntime in process",
        "",
        f"The baseline commit `{commit}` is built from a `git archive` of it and run with its "
        "own predictor and sidecar; this commit's predictor and sidecar; and Go calling "
        "onnxruntime's C API in process, one row per call, on the same model with the "
        "sidecar's session options (`go/bench/cmd/gatebench`, target `onnxruntime`). The "
        "three alternate, round after round, in one run, so the shared machine's load falls "
        "on each alike; a row gives the median over the rounds and every round's figure.",
        "",
    ]
    if cmp.get("skipped"):
        return [*lines, f"Not measured: {cmp['skipped']}", ""]
    by = rounds_by_build(cmp)
    rows = []
    for conc in sorted({c for _, c in by}):
        for build in BUILD_LABELS:
            rs = by.get((build, conc))
            if not rs:
                continue
            rows.append(
                [
                    BUILD_LABELS[build],
                    conc,
                    rate(median([r["per_second"] for r in rs])),
                    " / ".join(rate(r["per_second"]) for r in rs),
                    fmt_us(median([r["latency_us"]["p50"] for r in rs])),
                    f"{median([r['mean_batch'] for r in rs]):.1f}"
                    if all(r.get("mean_batch") for r in rs)
                    else "—",
                    cpu_per_call(rs),
                    sum(r["failures"] for r in rs),
                ]
            )
    lines += table(
        ["design", "goroutines", "decisions/s (median)", "decisions/s by round", "p50 (median)",
         "mean batch", "CPU per decision (median)", "failed"],
        rows,
    )  # fmt: skip
    lines += [
        "*CPU per decision*: as *CPU per call* in the table above, the sidecar's part in "
        "brackets; the baseline commit's gatebench predates it (—).",
        "",
    ]
    lines += [
        "Why batching pays, and where in-process onnxruntime still leads: the predictor keeps "
        "one `predict` request in flight; the decisions asked for while the sidecar scores it "
        "wait, then go out together as the next request (the *mean batch* column), so the "
        "sidecar's per-request cost and the two processes' wake-ups are paid once per batch, "
        "not per decision. Both sides poll their pipe while the other works, because on this "
        "virtual machine waking a sleeping reader costs more than the model (each side checks "
        "now and then that polling still pays, and sleeps on a host short of CPU: *Busy "
        "host* below). In-process "
        "onnxruntime has none of that to pay: it scores on both cores at once, while the "
        "sidecar path splits the same two cores between the Go process and a single-threaded "
        "Python one, and the polling takes CPU that neither side spends on decisions.",
        "",
    ]
    lines += _cpu_bound(by, cores)
    lines += _ceiling(by, pipe)
    lines += _tree_walk(cmp.get("onnxruntime_batches") or [], by)
    for e in cmp.get("errors") or []:
        lines += [f"* {e}"]
    return [*lines, ""] if cmp.get("errors") else lines


def _ceiling(
    by: dict[tuple[str, int], list[dict[str, Any]]], pipe: dict[str, Any] | None
) -> list[str]:
    """The most one sidecar process scores, next to in-process onnxruntime at 64."""
    ort = by.get(("onnxruntime", 64))
    runs = (pipe or {}).get("throughput") or []
    if not ort or not runs:
        return []
    best = max(runs, key=lambda t: t["records_per_s"])
    single = min(runs, key=lambda t: t["records_per_request"])
    ort64 = median([r["per_second"] for r in ort])
    return [
        "How far batching can go: fed as fast as a pipe allows, with no Go process to share "
        "the machine with (*Python client over the pipe*, below), one sidecar scores at most "
        f"{rate(best['records_per_s'])} records/s ({_records(best['records_per_request'])} per "
        f"request, {best.get('sidecar_cpu_share', 0):.0%} of a core), against "
        f"{rate(single['records_per_s'])} with {_records(single['records_per_request'])} per "
        "request. There every read holds several requests, which the general path decodes "
        "into Python objects; the predictor's requests come one per read and take the "
        "byte-level path (`infer/single.py`), which costs less per record. Batching spares "
        "onnxruntime's and the loop's cost per call, not the walk down every tree for every "
        "row, which is most of a row's cost in a 100-tree ensemble fed varied rows. "
        f"In-process onnxruntime reached {rate(ort64)} decisions/s at 64 goroutines in this "
        "run (median of the rounds), scoring on both cores; the sidecar scores on one, and "
        "the Go process's share of the machine (its polling, its callers' wake-ups) is paid "
        "beside it.",
        "",
    ]


def cpu_per_call(rs: list[dict[str, Any]]) -> str:
    """Median CPU µs per call of gatebench results, with the server process's part."""
    if not all(r.get("cpu_us_per_call") for r in rs):
        return "—"
    total = median([r["cpu_us_per_call"] for r in rs])
    server = median([r.get("server_cpu_us_per_call") or 0.0 for r in rs])
    return f"{total:.1f} µs ({server:.1f} server)" if server else f"{total:.1f} µs"


def _cpu_at_64(
    by: dict[tuple[str, int], list[dict[str, Any]]],
) -> tuple[float, float] | None:
    """Median CPU per decision at 64 goroutines, (this commit's, in-process onnxruntime's),
    when every round of both measured it; else None."""
    cur, ort = by.get(("current", 64)), by.get(("onnxruntime", 64))
    if not cur or not ort or not all(r.get("cpu_us_per_call") for r in (*cur, *ort)):
        return None
    return median([r["cpu_us_per_call"] for r in cur]), median([r["cpu_us_per_call"] for r in ort])


def _cpu_bound(by: dict[tuple[str, int], list[dict[str, Any]]], cores: int | None) -> list[str]:
    """At 64 goroutines every core is busy: the CPU a decision costs bounds decisions/s."""
    cpu, cur = _cpu_at_64(by), by.get(("current", 64)) or []
    # Every round measured, the sidecar's part included.
    if not cores or cpu is None or not all(r.get("server_cpu_us_per_call") for r in cur):
        return []
    c_all, o_all = cpu
    c_side = median([r["server_cpu_us_per_call"] for r in cur])
    return [
        f"What bounds the 64-goroutine rows: with every one of the machine's {cores} cores "
        "busy, decisions/s cannot exceed the cores' CPU time divided by the CPU one decision "
        f"costs. Through the sidecar a decision cost {c_all:.1f} µs of CPU in this run "
        f"({c_all - c_side:.1f} µs in the bot's process, {c_side:.1f} µs in the sidecar), "
        f"which bounds it at {rate(cores * 1e6 / c_all)} decisions/s; in-process onnxruntime "
        f"cost {o_all:.1f} µs, a bound of {rate(cores * 1e6 / o_all)}. The sidecar's part "
        "bounds the path as well: single-threaded, it has one core, so at the "
        f"{c_side:.1f} µs a decision cost it here (its polling while it waited included) it "
        f"could not pass {rate(1e6 / c_side)} decisions/s, whatever the bot's side costs. "
        "The sidecar path reaches in-process onnxruntime only once a decision costs as "
        "little CPU on both sides together as onnxruntime's own call does.",
        "",
    ]


def _tree_walk(
    batches: list[dict[str, Any]], by: dict[tuple[str, int], list[dict[str, Any]]]
) -> list[str]:
    """onnxruntime's cost per row by rows per call: how much of a decision batching can spare."""
    per_row: dict[int, float] = {}
    for n in sorted({b["rows"] for b in batches}):
        per_row[n] = median([b["us_per_row"] for b in batches if b["rows"] == n])
    if 1 not in per_row or len(per_row) < 2:
        return []
    sizes = [n for n in per_row if n > 1]
    each = [f"{per_row[n]:.1f} with {n}" for n in sizes]
    listed = f"{', '.join(each[:-1])} and {each[-1]}" if len(each) > 1 else each[0]
    lines = [
        "What batching can spare: on the same feature vectors, one onnxruntime call in process "
        "(one goroutine, nothing else running; `-ort-batches`, medians of the rounds) cost "
        f"{per_row[1]:.1f} µs a row with 1 row a call, {listed}. A larger call spares the "
        "call's own cost; what it cannot spare, about "
        f"{min(per_row.values()):.1f} µs a row here, is the walk down every tree for every "
        "row, which the sidecar's call pays as in-process onnxruntime does."
    ]
    cpu, cur = _cpu_at_64(by), by.get(("current", 64)) or []
    if cpu is not None and all(r.get("mean_batch") for r in cur):
        c_all, o_all = cpu
        batch = median([r["mean_batch"] for r in cur])
        near = min(sizes, key=lambda n: (abs(n - batch), n))
        walk = per_row[near]
        lines[0] += (
            f" At 64 goroutines the predictor's requests held {batch:.1f} records on average; "
            f"at the nearest size measured, {near} rows a call, the walk is {walk:.1f} µs a "
            f"row, so batching can spare at most {max(0.0, per_row[1] - walk):.1f} of the "
            f"{o_all:.1f} µs of CPU in-process onnxruntime spent per decision, while the "
            f"sidecar path spent {c_all - walk:.1f} µs per decision besides the walk (both "
            "processes, their polling included). The sidecar path passes in-process "
            "onnxruntime only where the second figure falls below the first."
        )
    return [*lines, ""]


def _records(n: int) -> str:
    return f"{n} record" if n == 1 else f"{n} records"
