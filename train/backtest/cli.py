"""`train backtest`: walk-forward evaluation (train/backtest/walkforward.py) from the command line.

Writes OUT/backtest.md, OUT/backtest.json and OUT/backtest.png; prints the
markdown file's path as the last stdout line. Exit 2 on bad arguments or too
little data, 1 when the first window's model fails the AUC gate.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from train.arguments import _positive_int, add_data_args, duration, out_dir, parse_features
from train.choices import FAMILIES
from train.errors import GateFailedError, InputError

log = logging.getLogger("train")


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "backtest", help="walk-forward: retrain every period vs a model trained once"
    )
    add_data_args(b)
    b.add_argument("--retrain-every", required=True, type=duration, help="period, e.g. 1d, 6h")
    b.add_argument("--window", type=duration, help="train on the last DURATION only (all)")
    b.add_argument("--first-window", type=duration, help="the once model's data (a third)")
    b.add_argument("--out", type=out_dir, default=Path("backtest"), help="output dir (backtest/)")
    b.add_argument("--model", choices=FAMILIES, default="gbm")
    b.add_argument("--search", choices=("once", "fast", "grid"), default="once",
                   help="once: tune on the first window and reuse (default); fast|grid: "
                   "tune at every retrain, as the nightly job")  # fmt: skip
    b.add_argument("--cv-folds", type=_positive_int, default=3, help="search folds (3)")


def cmd_backtest(a: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    from train.backtest.walkforward import WalkForwardConfig, walk_forward
    from train.backtest.walkforward_report import write
    from train.data.load import read_records
    from train.labels.labeler import LabelParams

    if a.cv_folds < 2:
        raise InputError("--cv-folds must be at least 2")
    cfg = WalkForwardConfig(
        features=parse_features(a.features),
        label=LabelParams(a.lookahead, a.sigma, a.min_dist, a.min_std),
        every_s=a.retrain_every,
        window_s=a.window,
        first_s=a.first_window,
        family=a.model,
        search=a.search,
        calibration=a.calibrate,
        threshold=a.threshold,
        n_splits=a.cv_folds,
        seed=a.seed,
        symbol=a.symbol,
        embargo_s=a.embargo,
        min_auc=a.min_auc,
    )
    try:  # before the walk-forward, not after it
        a.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--out {a.out}: cannot write there: {e.strerror or e}") from None
    recs = read_records(a.data, cfg.features, a.max_bad)
    try:
        with threadpool_limits(1):  # see train/publish/run.py: one thread per fit on a shared box
            res = walk_forward(recs, cfg)
    except GateFailedError as e:
        print(f"train backtest: {e}", file=sys.stderr)
        return 1
    res["data"] = str(a.data)
    lines = write(a.out, res, "backtest")
    md = a.out / "backtest.md"
    md.write_text("\n".join([f"# Backtest of `{a.data}`", "", *lines]), encoding="utf-8")
    log.info("wrote %s", md)
    print(md.resolve())
    return 0
