"""Labeling throughput: train.labels (sliding-window extrema) against the
seed's O(n²) scan (tests/train/reference_labels.py), on the same records.

Run one measurement per process so each has its own time cap and peak memory:

    python -m bench.labeling --rows N --impl fast|reference

prints one JSON object: rows, seconds, rows_per_s, labelled/censored counts
and, for the reference, whether train.labels gave the same labels.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import proc
from bench.budget import Budget

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("bench")

MEAN_GAP_S = 3.0  # as `train sample`: ~20 records per 60 s window
SYMBOLS = 3


def synthetic(rows: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Records in the bot's shape: irregular millisecond timestamps with
    duplicates, a random-walk price per symbol, VWAP a few sigma away."""
    import numpy as np  # here, so the orchestrator that imports this module stays small

    rng = np.random.default_rng(seed)
    code = np.repeat(np.arange(SYMBOLS), -(-rows // SYMBOLS))[:rows]
    gaps = rng.exponential(MEAN_GAP_S, rows)
    gaps[rng.random(rows) < 0.03] = 0.0  # duplicate timestamps
    ts_ns = np.empty(rows, dtype=np.int64)
    price = np.empty(rows)
    for s in range(SYMBOLS):
        m = code == s
        ts_ns[m] = 1_795_132_800 * 10**9 + np.cumsum((gaps[m] * 1000).astype(np.int64)) * 10**6
        price[m] = 100.0 * (s + 1) * np.exp(np.cumsum(rng.normal(0, 4e-4, m.sum())))
    std = price * rng.uniform(5e-4, 2e-3, rows)
    vwap = price - rng.normal(0, 1.2, rows) * std
    # Interleave symbols in time order, as the exporter writes them.
    order = np.argsort(ts_ns, kind="stable")
    return {
        "code": code[order],
        "ts_ns": ts_ns[order],
        "price": price[order],
        "vwap": vwap[order],
        "std": std[order],
    }


def fast(d: dict[str, np.ndarray]) -> np.ndarray:
    from train.labels.labeler import LabelParams, label_records

    return label_records(d["code"], d["ts_ns"], d["price"], d["vwap"], d["std"], LabelParams())


def reference(d: dict[str, np.ndarray]) -> np.ndarray:
    from tests.train.reference_labels import reference_labels

    return reference_labels(d["code"], d["ts_ns"], d["price"], d["vwap"], d["std"])


def run_all(root: Path, work: Path, budget: Budget) -> dict[str, Any]:
    """Each size in its own process; the reference stops growing at its first time-out."""
    runs: list[dict[str, Any]] = []
    notes: list[str] = []
    plan = [("fast", n, 600.0) for n in budget.label_rows]
    plan += [
        ("reference", n, budget.reference_label_timeout_s) for n in budget.reference_label_rows
    ]
    gave_up = False
    for impl, rows, cap in plan:
        if impl == "reference" and gave_up:
            notes.append(f"O(n²) reference at {rows:,} rows skipped: a smaller size hit the cap.")
            continue
        r = proc.run(
            [proc.python(), "-m", "bench.labeling", "--rows", str(rows), "--impl", impl],
            cwd=root,
            timeout_s=cap,
            log_path=work / "logs" / f"labeling-{impl}-{rows}.log",
        )
        if r.returncode != 0:
            why = (
                f"did not finish within its {cap:.0f} s cap"
                if r.timed_out
                else (f"failed (exit {r.returncode})")
            )
            notes.append(f"{impl} labeling at {rows:,} rows {why}.")
            gave_up = gave_up or impl == "reference"
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["max_rss_kib"] = r.max_rss_kib
        log.info("labeling %s %d rows: %.2f s", impl, rows, res["seconds"])
        runs.append(res)
    return {"runs": runs, "notes": notes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--impl", choices=["fast", "reference"], required=True)
    args = ap.parse_args(argv)
    d = synthetic(args.rows)
    t0 = time.perf_counter()
    labels = (fast if args.impl == "fast" else reference)(d)
    took = time.perf_counter() - t0
    out = {
        "impl": args.impl,
        "rows": args.rows,
        "seconds": took,
        "rows_per_s": args.rows / took,
        "positive": int((labels == 1).sum()),
        "negative": int((labels == 0).sum()),
        "censored": int((labels == -1).sum()),
    }
    if args.impl == "reference":
        import numpy as np

        out["same_as_train_labels"] = bool(np.array_equal(labels, fast(d)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
