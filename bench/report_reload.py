"""BENCHMARKS.md sections: reloads under load, and the sidecar's start-up and memory."""

from __future__ import annotations

from typing import Any

from bench.markdown import fmt_us, mib, rate, table


def section(r: dict[str, Any] | None, models: str) -> list[str]:
    lines = ["## Reload under load", ""]
    if not r:
        return [*lines, "Not measured.", ""]
    lines += [
        f"Models: {models}.",
        "",
        f"{r['reloads']} reloads ({r['reloads_ok']} confirmed by the version the predictor "
        f"reports) while {r['concurrency']} goroutines ask for decisions: each reload flips the "
        "`current` symlink between two model directories (new symlink, then rename, as a "
        "deploy does), calls `Predictor.Reload()` (SIGHUP), waits until the predictor reports "
        f"the new version, then pauses {r['interval_ms']:.0f} ms. Baseline: the same load for "
        "the benchmark's measurement time without reloads. A failed call is an error from "
        "`Decide`; a fallback is a decision the model did not make.",
        "",
    ]
    b, d = r["baseline"], r["during"]
    lines += table(
        ["phase", "decisions", "decisions/s", "p50", "p99", "p99.9", "max", "failed", "fallback"],
        [
            [name, f"{x['calls']:,}", rate(x["per_second"]), fmt_us(x["latency_us"]["p50"]),
             fmt_us(x["latency_us"]["p99"]), fmt_us(x["latency_us"]["p999"]),
             fmt_us(x["latency_us"]["max"]), x["failures"], x["fallbacks"]]
            for name, x in (("no reload", b), ("100 reloads" if r["reloads"] == 100
                                                else f"{r['reloads']} reloads", d))
        ],
    )  # fmt: skip
    if r.get("reload_ms"):
        rm = r["reload_ms"]
        lines += [
            f"Time from `Reload()` to the predictor reporting the new version: p50 "
            f"{rm['p50']:.1f} ms, max {rm['max']:.1f} ms. Fallbacks by reason: "
            f"{r.get('fallbacks_by_reason') or 'none'}. Answers seen per version: "
            + ", ".join(f"`{k}` {v:,}" for k, v in sorted(r.get("versions", {}).items()))
            + ".",
            "",
        ]
    return lines


def sidecar(s: dict[str, Any] | None, decisions: list[dict[str, Any]]) -> list[str]:
    lines = ["## Sidecar start-up and memory", ""]
    if not s:
        return [*lines, "Not measured.", ""]
    starts = ", ".join(f"{x:.0f}" for x in s["startup_ms"])
    lines += table(
        ["", ""],
        [
            ["exec → `ready` (median)", f"{s['startup_median_ms']:.0f} ms (runs: {starts} ms)"],
            ["RSS at idle (1 s after `ready`)", mib(s["idle_rss_kb"])],
            [f"RSS under load ({s['load_goroutines']} goroutines, {s['load_seconds']:.0f} s, max "
             "sampled)", mib(s["load_rss_kb"])],
            ["peak RSS (VmHWM) after that load", mib(s["load_hwm_kb"])],
            *[[f"`predictor.New` until ready (before the {r['concurrency']}-goroutine run)",
               f"{r['setup_ms']:.0f} ms"]
              for r in decisions if r["target"] == "sigmagate" and r.get("setup_ms")],
        ],
    )  # fmt: skip
    return lines
