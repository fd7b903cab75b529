"""`train monitor` (realised precision of a served model on recent records) and
`train compare` (champion vs challenger on the same recent outcomes).

Exit codes: 0 healthy / challenger not significantly worse; 3 degraded
(realised precision significantly below the test split's or the model's mean p,
or the approval rate significantly below half the test split's, overall or for
a symbol: see train/monitor/verdict.py) / challenger significantly worse
(train/monitor/compare.py); 2 bad input (model, manifest, data, arguments),
with a message naming the file and field at fault.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from train.errors import InputError

log = logging.getLogger("train")
EXIT_HEALTHY, EXIT_BAD_INPUT, EXIT_DEGRADED = 0, 2, 3


def _when(text: str) -> int:
    """RFC 3339, epoch seconds, or a duration before now ('2h', '90m') → UTC ns."""
    from train.arguments import parse_duration
    from train.data.records import parse_timestamp

    try:
        return time.time_ns() - round(parse_duration(text) * 1e9)
    except ValueError:
        pass
    try:
        return parse_timestamp(float(text) if text.replace(".", "", 1).isdigit() else text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}; or a duration before now, e.g. 2h") from None


def _confidence(s: str) -> float:
    from train.arguments import _number

    v = _number(s)
    if not 0.5 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0.5, 1), got {s}")
    return v


def add_parser(sub: argparse._SubParsersAction) -> None:
    from train.arguments import _non_negative_int, _positive, _positive_int
    from train.monitor.bootstrap import DEFAULT_BLOCK_LOOKAHEADS, DEFAULT_RESAMPLES
    from train.monitor.verdict import DEFAULT_MIN_APPROVALS

    m = sub.add_parser(
        "monitor",
        help="realised precision of a model on recent records vs its test split "
        "(exit 0 healthy, 3 degraded, 2 bad input)",
    )
    m.add_argument("--model", required=True, type=Path, help="model directory (or models/current)")
    m.add_argument(
        "--data",
        required=True,
        type=Path,
        help="JSON Lines or Parquet file, or a Parquet directory",
    )
    m.add_argument(
        "--since",
        type=_when,
        help="first candidate: RFC 3339, epoch s, or a duration ago (e.g. 2h)",
    )
    m.add_argument("--until", type=_when, help="candidates before this (later records still label)")
    m.add_argument(
        "--min-approvals", type=_positive_int, default=DEFAULT_MIN_APPROVALS,
        help=f"approvals a scope needs to be judged ({DEFAULT_MIN_APPROVALS})",
    )  # fmt: skip
    m.add_argument("--confidence", type=_confidence, default=0.95, help="interval level (0.95)")
    m.add_argument(
        "--block-seconds", type=_positive, default=None,
        help=f"bootstrap block length, s (default {DEFAULT_BLOCK_LOOKAHEADS} label lookaheads; "
        "at least one lookahead)",
    )  # fmt: skip
    m.add_argument("--resamples", type=_positive_int, default=DEFAULT_RESAMPLES)
    m.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    m.add_argument("--min-rows", type=_positive_int, default=200, help="labelled candidates (200)")
    m.add_argument(
        "--max-bad", type=_non_negative_int, default=0, help="malformed JSON lines to skip (0)"
    )
    m.add_argument("--threads", type=_positive_int, default=1, help="onnxruntime threads (1)")
    m.add_argument("--json", type=Path, help="write every figure to this JSON file")
    m.add_argument("--textfile", type=Path, help="write Prometheus gauges (node_exporter textfile)")


def add_compare_parser(sub: argparse._SubParsersAction) -> None:
    from train.arguments import _non_negative_int, _positive, _positive_int, parse_duration
    from train.monitor.bootstrap import DEFAULT_BLOCK_LOOKAHEADS, DEFAULT_RESAMPLES

    def window(s: str) -> float:
        try:
            v = parse_duration(s)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
        return v

    c = sub.add_parser(
        "compare",
        help="champion vs challenger on the same recent outcomes "
        "(exit 0 challenger not significantly worse, 3 worse, 2 bad input)",
    )
    c.add_argument("--champion", required=True, type=Path, help="model directory now served")
    c.add_argument("--challenger", required=True, type=Path, help="candidate model directory")
    c.add_argument(
        "--data",
        required=True,
        type=Path,
        help="JSON Lines or Parquet file, or a Parquet directory",
    )
    c.add_argument(
        "--window", type=window, default=None,
        help="candidates of the last DURATION of the data (e.g. 6h; default: all of it)",
    )  # fmt: skip
    c.add_argument("--confidence", type=_confidence, default=0.95, help="interval level (0.95)")
    c.add_argument(
        "--block-seconds", type=_positive, default=None,
        help=f"bootstrap block, s (default {DEFAULT_BLOCK_LOOKAHEADS} label lookaheads)",
    )  # fmt: skip
    c.add_argument("--resamples", type=_positive_int, default=DEFAULT_RESAMPLES)
    c.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    c.add_argument("--min-rows", type=_positive_int, default=200, help="labelled candidates (200)")
    c.add_argument(
        "--max-bad", type=_non_negative_int, default=0, help="malformed JSON lines to skip (0)"
    )
    c.add_argument("--threads", type=_positive_int, default=1, help="onnxruntime threads (1)")
    c.add_argument("--json", type=Path, help="write every figure to this JSON file")


def cmd_compare(a: argparse.Namespace) -> int:
    from train.monitor.compare import comparable, compare, table
    from train.monitor.served import load_served
    from train.monitor.textfile import write_atomically
    from train.monitor.window import load_window

    if a.json is not None and not a.json.parent.is_dir():
        raise InputError(f"{a.json}: directory {a.json.parent} does not exist")
    champion = load_served(a.champion, a.threads)
    challenger = load_served(a.challenger, a.threads)
    comparable(champion, challenger)
    if a.block_seconds is not None and a.block_seconds < champion.label.lookahead_s:
        raise InputError(
            f"--block-seconds {a.block_seconds:g} is shorter than the label lookahead "
            f"{champion.label.lookahead_s:g} s: outcomes within a lookahead are dependent"
        )
    feats = list(dict.fromkeys([*champion.features, *challenger.features]))
    window = load_window(
        a.data, feats, champion.label, max_bad=a.max_bad, min_rows=a.min_rows, last_s=a.window
    )
    c = compare(
        champion, challenger, window, feats, a.confidence, a.block_seconds, a.resamples, a.seed
    )
    sys.stdout.write(table(c, window))
    if a.json is not None:
        from train.data.records import format_timestamp

        doc = c.to_dict() | {
            "exit_code": EXIT_DEGRADED if c.worse else EXIT_HEALTHY,
            "data": {"source": str(a.data), "first": format_timestamp(window.first_ns),
                     "last": format_timestamp(window.last_ns), "counts": window.counts},
        }  # fmt: skip
        write_atomically(a.json, json.dumps(doc, indent=2) + "\n")
    if c.suspicious:
        log.warning("compare: SUSPICIOUS challenger: %s", "; ".join(c.suspicious_reasons))
    if c.worse:
        log.warning("compare: challenger WORSE: %s", "; ".join(c.worse_reasons))
        return EXIT_DEGRADED
    return EXIT_HEALTHY


def cmd_monitor(a: argparse.Namespace) -> int:
    from modelformat.manifest import FILE_NAME
    from train.monitor import render
    from train.monitor.evaluate import evaluate
    from train.monitor.served import load_served, promise
    from train.monitor.textfile import render as render_text
    from train.monitor.textfile import write_atomically
    from train.monitor.verdict import judge
    from train.monitor.window import load_window

    if a.since is not None and a.until is not None and a.until <= a.since:
        raise InputError("--until must be after --since")
    for out in (a.json, a.textfile):
        if out is not None and not out.parent.is_dir():
            raise InputError(f"{out}: directory {out.parent} does not exist")
    served = load_served(a.model, a.threads)
    promised = promise(served.manifest, str(served.path / FILE_NAME))
    if a.block_seconds is not None and a.block_seconds < served.label.lookahead_s:
        raise InputError(
            f"--block-seconds {a.block_seconds:g} is shorter than the label lookahead "
            f"{served.label.lookahead_s:g} s: outcomes within a lookahead are dependent"
        )
    window = load_window(
        a.data, served.features, served.label, a.since, a.until, a.max_bad, a.min_rows
    )
    ev = evaluate(served, window, a.confidence, a.block_seconds, a.resamples, a.seed)
    verdict = judge(ev, promised, a.min_approvals, a.seed)
    run_ts = time.time()
    sys.stdout.write(render.table(ev, verdict, promised, window))
    if a.json is not None:
        doc = render.document(ev, verdict, promised, window, str(served.path), str(a.data), run_ts)
        write_atomically(a.json, json.dumps(doc, indent=2) + "\n")
    if a.textfile is not None:
        gauges = render.gauges(
            ev, verdict, promised, run_ts, window.counts.get("empty_lookahead", 0)
        )
        write_atomically(a.textfile, render_text(gauges))
    for j in verdict.degraded:
        log.warning("outcome monitor: DEGRADED: %s", j.reason)
    if ev.thinned:
        log.warning(
            "outcome monitor: not judged (thinned price path: fix the recorder or the export, or "
            "choose a window without them): %s",
            "; ".join(f"{k}: {v}" for k, v in ev.thinned.items()),
        )
    return EXIT_HEALTHY if verdict.healthy else EXIT_DEGRADED
