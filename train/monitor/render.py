"""The monitor's three outputs: a table (stdout), a JSON document, a Prometheus textfile."""

from __future__ import annotations

from typing import Any

from train.data.records import format_timestamp
from train.monitor.evaluate import ALL, Evaluation
from train.monitor.figures import clean
from train.monitor.textfile import Gauge
from train.monitor.verdict import Verdict
from train.monitor.window import Window

PREFIX = "sigmagate_outcome_"


def _f(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def table(ev: Evaluation, verdict: Verdict, promise: dict[str, Any], window: Window) -> str:
    per = promise.get("per_symbol") or {}
    lines = [
        f"model {ev.version} ({ev.variant}); candidates {format_timestamp(window.first_ns)} → "
        f"{format_timestamp(window.last_ns)}; {ev.confidence:.0%} intervals, "
        f"{ev.blocks.block_s:g} s blocks",
        records_line(window.counts),
        "",
        f"{'scope':<10} {'cand':>7} {'appr':>5} {'rate':>6} {'AUC':>6} {'ECE':>6} "
        f"{'precision [interval]':>24} {'expected':>8} {'test':>6} {'test exp':>8} "
        f"{'test rate':>9}  verdict",
    ]
    for s in ev.scopes():
        f = s.figures
        t = promise["overall"] if s.name == ALL else per.get(s.name, {})
        j = verdict.of(s.name)
        mark = "DEGRADED" if j.degraded else ("ok" if j.judged else "not judged")
        if j.suspicious:
            mark = "SUSPICIOUS"
        interval = f"{_f(f.precision)} [{_f(s.precision_lower)}, {_f(s.precision_upper)}]"
        lines.append(
            f"{s.name:<10} {f.rows:>7} {f.approvals:>5} {_f(f.approval_rate, '.4f'):>6} "
            f"{_f(f.auc):>6} {_f(f.ece):>6} {interval:>24} {_f(f.expected_precision):>8} "
            f"{_f(t.get('precision')):>6} {_f(t.get('expected_precision')):>8} "
            f"{_f(t.get('approval_rate'), '.4f'):>9}  {mark}"
        )
    lines += ["", f"rule: {verdict.rule}"]
    js = verdict.judgements
    if verdict.healthy and not any(j.judged or j.approval_judged for j in js):
        # Healthy only in the sense that nothing was found: say so, with each scope's reason.
        lines.append("verdict: HEALTHY (nothing could be judged)")
        lines += [f"  {j.scope}: {j.reason}" for j in js]
    elif verdict.healthy and not any(j.judged for j in js):
        lines.append(
            "verdict: HEALTHY (approval rates only: too few approvals to judge any precision)"
        )
        lines += [f"  {j.scope}: {j.reason}" for j in js]
    elif verdict.healthy and ev.thinned:
        # Not a plain HEALTHY: part of the window could not be judged.
        lines.append(
            "verdict: HEALTHY where judged; not judged (thinned price path): "
            + ", ".join(ev.thinned)
        )
        lines += [f"  {j.scope}: {j.reason}" for j in verdict.judgements if j.scope in ev.thinned]
    elif verdict.healthy:
        lines.append("verdict: HEALTHY")
    else:
        lines.append("verdict: DEGRADED — " + "; ".join(j.reason for j in verdict.degraded))
    lines += [f"note: {j.reason}" for j in verdict.judgements if j.suspicious]
    return "\n".join(lines) + "\n"


def records_line(c: dict[str, int]) -> str:
    """What became of the records read: every drop counted (the WARNINGs give examples)."""
    n = c.get("in_window", 0)
    share = f" ({c['bad_price'] / n:.1%})" if n and c.get("bad_price") else ""
    until = f", {c['after_until']} after --until" if c.get("after_until") else ""
    return (
        f"records: {c.get('read', 0)} read, {c.get('bad', 0)} malformed skipped, "
        f"{c.get('duplicates', 0)} exact duplicates dropped; {n} in the window: "
        f"{c.get('bad_price', 0)}{share} dropped for a NaN/Inf or non-positive price, vwap or "
        "std_dev, "
        f"{c.get('bad_features', 0)} for NaN/Inf features, {c.get('censored', 0)} censored "
        f"(lookahead past the data){until}; {c.get('candidates', 0)} candidates"
        + (f", {c['empty_lookahead']} with no record in their lookahead (a feed pause)"
           if c.get("empty_lookahead") else "")
    )  # fmt: skip


def document(
    ev: Evaluation,
    verdict: Verdict,
    promise: dict[str, Any],
    window: Window,
    model_path: str,
    data: str,
    run_ts: float,
) -> dict[str, Any]:
    per = promise.get("per_symbol") or {}
    return clean(
        {
            "healthy": verdict.healthy,
            "exit_code": 0 if verdict.healthy else 3,
            "degraded": [j.scope for j in verdict.degraded],
            "rule": verdict.rule,
            "run_timestamp": run_ts,
            "model": {"path": model_path, "version": ev.version, "variant": ev.variant},
            "data": {
                "source": data,
                "first": format_timestamp(window.first_ns),
                "last": format_timestamp(window.last_ns),
                "counts": window.counts,
                "warnings": window.warnings,
            },
            "bootstrap": {
                "confidence": ev.confidence,
                "block_seconds": ev.blocks.block_s,
                "cell_seconds": ev.blocks.lookahead_s,
                "resamples": ev.blocks.resamples,
            },
            "scopes": {
                s.name: {
                    "realised": s.to_dict(),
                    "test": promise["overall"] if s.name == ALL else per.get(s.name),
                    "judgement": verdict.of(s.name).to_dict(),
                }
                for s in ev.scopes()
            },
        }
    )


def gauges(
    ev: Evaluation, verdict: Verdict, promise: dict[str, Any], run_ts: float, empty_lookahead: int
) -> list[Gauge]:
    per = promise.get("per_symbol") or {}
    g = {
        k: Gauge(PREFIX + k, h)
        for k, h in (
            (
                "healthy",
                "1 when no scope is degraded (realised precision significantly below its test "
                "split's or the model's mean p, or approval rate significantly below half its "
                "test split's), else 0",
            ),
            ("degraded", "1 when this scope (symbol, or all) is judged degraded"),
            (
                "judged",
                "1 when this scope (symbol, or all) was judged; 0 when not (too few approvals, "
                "a window too short for an interval, or a price path thinned by bad records)",
            ),
            ("approval_rate", "Approved share of the labelled candidates in the window"),
            (
                "test_approval_rate",
                "Approved share of the test split's candidates at the served thresholds",
            ),
            ("precision", "Realised precision of the approvals in the window"),
            ("precision_lower", "Lower end of the realised precision's block-bootstrap interval"),
            ("precision_upper", "Upper end of the realised precision's block-bootstrap interval"),
            ("expected_precision", "The model's mean probability over its approvals in the window"),
            ("test_precision", "Precision on the model's test split at the served thresholds"),
            ("approvals", "Approved candidates in the window"),
            ("candidates", "Labelled candidates in the window"),
            ("last_run_timestamp_seconds", "Unix time the outcome monitor last ran"),
            (
                "empty_lookahead",
                "Candidates in the window with no record of their symbol in their lookahead "
                "(a pause in the feed); labelled not reverted, as in training",
            ),
        )
    }
    g["healthy"].add(1.0 if verdict.healthy else 0.0)
    for s in ev.scopes():
        t = promise["overall"] if s.name == ALL else per.get(s.name, {})
        f = s.figures
        g["degraded"].add(1.0 if verdict.of(s.name).degraded else 0.0, symbol=s.name)
        g["judged"].add(1.0 if verdict.of(s.name).judged else 0.0, symbol=s.name)
        g["precision"].add(f.precision, symbol=s.name)
        g["precision_lower"].add(s.precision_lower, symbol=s.name)
        g["precision_upper"].add(s.precision_upper, symbol=s.name)
        g["expected_precision"].add(f.expected_precision, symbol=s.name)
        g["test_precision"].add(t.get("precision"), symbol=s.name)
        g["approval_rate"].add(f.approval_rate, symbol=s.name)
        g["test_approval_rate"].add(t.get("approval_rate"), symbol=s.name)
        g["approvals"].add(f.approvals, symbol=s.name)
        g["candidates"].add(f.rows, symbol=s.name)
    g["last_run_timestamp_seconds"].add(run_ts)
    g["empty_lookahead"].add(empty_lookahead)
    return list(g.values())
