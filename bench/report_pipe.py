"""BENCHMARKS.md section: the Python client over the pipe (bench/sidecar_pipe.py)."""

from __future__ import annotations

from typing import Any

from bench.markdown import fmt_us, rate, table


def section(p: dict[str, Any] | None) -> list[str]:
    lines = ["## Python client over the pipe (bench/sidecar_pipe.py)", ""]
    if not p or "result" not in p:
        return [*lines, f"Not run: {(p or {}).get('skipped', 'not available')}.", ""]
    lines += [
        "The Python-client benchmark, run as is by `python -m bench` "
        f"(`{' '.join(p['argv'][2:])}`): a Python client's round trip to `infer` beside a "
        "bare echo over the same kind of pipe with the same client code, and pipelined "
        "throughput. Its full output is in `results.json` under `pipe`.",
        "",
    ]
    try:
        lines += _pipe_tables(p["json"])
    except (KeyError, TypeError, ValueError):
        # Its output format is its own; when it is not what this page expects, quote it.
        lines += ["```", p["result"].strip(), "```", ""]
    return lines


def _span(values: list[float] | None) -> str:
    """A round-p50 range, e.g. "6.1-47.2 µs"; a dash when not recorded."""
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return f"{lo:.1f} µs" if lo == hi else f"{lo:.1f} to {hi:.1f} µs"


def _pipe_tables(j: dict[str, Any]) -> list[str]:
    rows = [
        [name.split(", ")[0], r.get("client", "spinning"),
         fmt_us(r["sidecar"]["p50_us"]), fmt_us(r["sidecar"]["p99_us"]),
         fmt_us(r["echo"]["p50_us"]), fmt_us(r["echo"]["p99_us"]), f"{r['ratio_p50']:.2f}x",
         _span(r.get("sidecar_round_p50_us")), _span(r.get("echo_round_p50_us"))]
        for name, r in j["rtt"].items()
    ]  # fmt: skip
    lines = [
        "A *spinning* client polls its pipe for up to 50 µs before it sleeps, as the Go "
        "predictor does; a *blocking* client sleeps in read(2) for every answer, as most "
        "hand-written clients do. Each row's echo floor is driven by the same client. The "
        "two processes alternate in rounds; the last two columns give the range of the "
        "rounds' p50s, which shows when the kernel ran client and server on one CPU in some "
        "rounds and on two in others (the section on the sidecar's I/O explains the cost).",
        "",
    ]
    lines += table(
        [
            "sidecar setting",
            "client",
            "infer p50",
            "infer p99",
            "echo p50",
            "echo p99",
            "p50 ratio",
            "infer round p50s",
            "echo round p50s",
        ],
        rows,
    )
    lines += [
        "Pipelined throughput: `cat` streams a file of requests into the sidecar as fast as "
        "the pipe takes them, so the sidecar never waits for a client; its records cycle "
        "through a pool of distinct rows in the bot's ranges, as the Go benchmarks' do (one "
        "row repeated would be scored about twice as fast, its branches learned by "
        "the CPU). This is the most one sidecar process scores.",
        "",
    ]
    lines += table(
        ["records per request", "records/s", "requests/s", "sidecar CPU"],
        [
            [t["records_per_request"], rate(t["records_per_s"]), rate(t["requests_per_s"]),
             f"{t['sidecar_cpu_share']:.0%} of a core" if "sidecar_cpu_share" in t else "—"]
            for t in j["throughput"]
        ],
    )  # fmt: skip
    return lines
