"""The idle-CPU section of docs/BENCHMARKS.md, from bench/idle_cpu.py's result."""

from __future__ import annotations

from typing import Any

from bench.markdown import table


def render(idle: dict[str, Any] | None) -> list[str]:
    lines = ["## Idle CPU (go/bench/cmd/idlecpu)", ""]
    if not idle or "phases" not in idle:
        return [*lines, f"Not run: {(idle or {}).get('skipped', 'not available')}.", ""]
    lines += [
        "A bot makes a few decisions a second. `go/bench/cmd/idlecpu` "
        f"(`{' '.join(idle.get('argv', [])[1:])}`) starts the predictor with default settings "
        "(both sides poll their pipe for up to 50 µs after an answer before they sleep), makes "
        "100 warm-up decisions, then measures the CPU time of its own Go process (every thread) "
        "and of the sidecar (every thread's run time from /proc) over a phase without any "
        "decision and over a phase of 10 evenly spaced decisions a second. Target: under 2 % "
        "of a core when idle.",
        "",
    ]
    rows = [
        [
            p["name"],
            f"{p['seconds']:.0f} s",
            p["decisions"],
            f"{p['go_cpu_s']:.4f} s",
            f"{p['go_core_pct']:.3f} %",
            f"{p['sidecar_cpu_s']:.4f} s",
            f"{p['sidecar_core_pct']:.3f} %",
        ]
        for p in idle["phases"]
    ]
    head = ["phase", "length", "decisions", "Go CPU", "Go % of a core", "sidecar CPU"]
    return lines + table([*head, "sidecar % of a core"], rows)
