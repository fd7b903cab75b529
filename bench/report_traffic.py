"""BENCHMARKS.md sections for traffic unlike back-to-back calls: sparse, and on a busy host."""

from __future__ import annotations

from typing import Any

from bench.markdown import fmt_us, table
from bench.summary import LABELS


def _gap(us: float) -> str:
    if us == 0:
        return "none (back to back)"
    return f"{us / 1e3:g} ms" if us >= 1e3 else f"{us:g} µs"


def sparse(rows: list[dict[str, Any]] | None) -> list[str]:
    lines = ["## Sparse traffic: one decision, then an idle gap", ""]
    if not rows:
        return [*lines, "Not measured.", ""]
    lines += [
        "A bot asks for a decision when a candidate trade appears, not back to back. Here one "
        "goroutine asks for one decision, waits for the answer, then idles for the gap "
        "(`time.Sleep`), sigmagate and the echo floor alike (each freshly started and warmed up "
        "back to back first). The predictor and the sidecar each poll their pipe for up to "
        "50 µs after an answer before they sleep (the sidecar only while its client's "
        "turnarounds show that polling pays, `infer/spin.py`; pipeecho never polls; its client "
        "polls as the predictor does): within that, a decision finds both awake; after a "
        "longer gap both have gone to sleep and every decision pays two scheduler wake-ups, "
        "which on this virtual machine cost more than the model.",
        "",
    ]
    by = {(r["target"], r["gap_us"]): r for r in rows}
    gaps = sorted({r["gap_us"] for r in rows})
    body = []
    for gap in gaps:
        s, e = by.get(("sigmagate", gap)), by.get(("echo", gap))
        row: list[Any] = [_gap(gap)]
        for r in (s, e):
            lat = r["latency_us"] if r else None
            row += [fmt_us(lat["p50"]), fmt_us(lat["p99"])] if lat and r["calls"] else ["—", "—"]
        ok = s and e and s["calls"] and e["calls"] and e["latency_us"]["p50"]
        row.append(f"{s['latency_us']['p50'] / e['latency_us']['p50']:.2f}x" if ok else "—")
        row.append(f"{s['calls']:,} / {e['calls']:,}" if s and e else "—")
        body.append(row)
    lines += table(
        ["gap after each answer", "sigmagate p50", "sigmagate p99", "echo p50", "echo p99",
         "p50 ratio", "calls (sigmagate / echo)"],
        body,
    )  # fmt: skip
    bad = [
        f"{r['target']} at {_gap(r['gap_us'])}: {r['failures']} / {r['fallbacks']}"
        for r in rows
        if r["failures"] or r["fallbacks"]
    ]
    lines += [f"Failed / fallback calls: {', '.join(bad) or 'none'}.", ""]
    return lines


def busy(rows: list[dict[str, Any]] | None, hogs: int | None) -> list[str]:
    lines = ["## Busy host: CPU-bound processes alongside", ""]
    if not rows:
        return [*lines, "Not measured.", ""]
    lines += [
        f"The back-to-back runs at 1 goroutine again, while {hogs or '?'} CPU-bound "
        f"process{'' if hogs == 1 else 'es'} (gatebench re-executed as a plain arithmetic "
        "loop) keep a core busy, as another job on the bot's machine would. A spinning "
        "reader that yields its CPU to such a process waits out that process's time slice, "
        "so the sidecar stops polling its "
        "stdin when its yields keep going elsewhere, and sleeps instead (infer/transport.py; "
        "the pause starts at 0.1 s and doubles while the shortage lasts). The predictor, "
        "which polls its stdout for a batch's answer while a request is in flight, finds out "
        "by trial that polling slows the answers here and parks instead "
        "(`go/internal/pipe`, owed.go).",
        "",
    ]
    body = []
    for r in rows:
        lat = r["latency_us"]
        body.append(
            [LABELS.get(r["target"], r["target"]), f"{r['per_second']:,.0f}", fmt_us(lat["p50"]),
             fmt_us(lat["p99"]), fmt_us(lat["p999"]), f"{r['calls']:,}",
             f"{r['failures']} / {r['fallbacks']}"]
        )  # fmt: skip
    lines += table(
        ["design", "decisions/s", "p50", "p99", "p99.9", "calls", "failed / fallback"], body
    )
    by = {r["target"]: r for r in rows}
    if "sigmagate" in by and "echo" in by and by["echo"]["latency_us"]["p50"]:
        ratio = by["sigmagate"]["latency_us"]["p50"] / by["echo"]["latency_us"]["p50"]
        lines += [f"sigmagate / floor at p50 on the busy host: {ratio:.2f}x.", ""]
    return lines
