"""Command line: `train sample`, `fit`, `backtest`, `monitor`, `compare` (also `python -m train`).

Exit codes: 0 done; 1 a quality gate failed (nothing published); 2 bad input
or arguments; 3 (`monitor`) the model's realised precision has degraded,
(`compare`) the challenger is significantly worse than the champion; 4 crashed:
an unexpected exception, with its traceback (`python -m train` and the `train`
script; `main` itself lets it propagate).
On success `fit` prints the new model directory as the last line of stdout;
everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from train.arguments import (
    _non_negative_int,
    _open_unit,
    _positive_int,
    _unit,
    add_data_args,
    duration,
    out_dir,
    parse_features,
)
from train.backtest.cli import add_parser as add_backtest_parser
from train.backtest.cli import cmd_backtest
from train.choices import FAMILIES
from train.errors import ExportError, GateFailedError, InputError
from train.model.families import DEFAULT as DEFAULT_FAMILY
from train.model.threshold import DEFAULT_MIN_APPROVALS
from train.monitor.cli import add_compare_parser, cmd_compare, cmd_monitor
from train.monitor.cli import add_parser as add_monitor_parser
from train.publish.trader import DEFAULT_FEE_BPS

log = logging.getLogger("train")
# An unexpected exception (train/__main__.py): a code no subcommand gives a result.
EXIT_CRASH = 4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="train", description=__doc__.split("\n")[0])
    p.add_argument(
        "--log-level", default="INFO", type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        help="stderr log level (default INFO)",
    )  # fmt: skip
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("sample", help="write synthetic bot records (JSON Lines or .parquet)")
    s.add_argument(
        "--out", required=True, type=Path, help="output file (.jsonl/.json/.ndjson or .parquet/.pq)"
    )
    s.add_argument("--rows", type=_positive_int, default=20000, help="records (default 20000)")
    s.add_argument("--symbols", nargs="+", default=["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--signal", choices=("planted", "none"), default="planted")
    s.add_argument(
        "--volatility", nargs="+", default=[], metavar="SYMBOL=X",
        help="std_dev multiplier per symbol (default 1)",
    )  # fmt: skip
    s.add_argument(
        "--regime-change", type=_unit, default=None, metavar="FRAC",
        help="from this fraction of each symbol's records on, the recorded order flow no longer "
        "drives the price (every feature's marginal distribution unchanged)",
    )  # fmt: skip
    s.add_argument(
        "--collapse", nargs="+", default=[], metavar="SYMBOL[=FRAC]",
        help="the same for one symbol, from FRAC of its records on (default 0: all of them)",
    )  # fmt: skip

    f = sub.add_parser("fit", help="label, train, export and publish a model directory")
    add_data_args(f)
    f.add_argument("--out", required=True, type=out_dir, help="models directory (e.g. models/)")
    f.add_argument("--search", choices=("grid", "fast"), default="fast")
    f.add_argument(
        "--model",
        choices=(*FAMILIES, "all"),
        default=None,
        help=f"({DEFAULT_FAMILY}; xgb with --engine dask)",
    )
    f.add_argument(
        "--engine", choices=("local", "dask"), default="local",
        help="local: one process (default); dask: label and fit on a Dask cluster (pip install "
        ".[dask]; Parquet input, xgb)",
    )  # fmt: skip
    f.add_argument(
        "--scheduler", default="local",
        help="--engine dask: 'local' (a LocalCluster on this machine) or the scheduler address, "
        "e.g. tcp://10.0.0.5:8786",
    )  # fmt: skip
    f.add_argument(
        "--workers", type=_positive_int, default=2,
        help="--engine dask --scheduler local: worker processes (2)",
    )  # fmt: skip
    f.add_argument("--cv-folds", type=_positive_int, default=None, help="(grid 5, fast 3)")
    f.add_argument(
        "--tune-rows", type=_non_negative_int, default=None,
        help="tune on the most recent N training rows, refit on all (grid 20000, fast 100000; "
        "0 = all)",
    )  # fmt: skip
    f.add_argument(
        "--target-precision", type=_open_unit, default=None, metavar="P",
        help="choose the lowest threshold whose validation precision reaches P (overrides "
        "--threshold)",
    )  # fmt: skip
    f.add_argument(
        "--min-approvals", type=_positive_int, default=DEFAULT_MIN_APPROVALS,
        help=f"--target-precision: validation approvals it must rest on ({DEFAULT_MIN_APPROVALS})",
    )  # fmt: skip
    f.add_argument("--max-parity", type=float, default=1e-4, help="gate: ONNX vs sklearn |dp|")
    f.add_argument("--min-agreement", type=_unit, default=0.995, help="variant gate (0.995)")
    f.add_argument("--max-auc-delta", type=float, default=0.005, help="variant gate (0.005)")
    f.add_argument("--no-report", action="store_true", help="skip report.md and plots")
    f.add_argument("--walk-forward", type=duration, metavar="DURATION",
                   help="report.md: add a walk-forward, retraining every DURATION")  # fmt: skip
    f.add_argument(
        "--fee-bps", type=float, default=DEFAULT_FEE_BPS, metavar="BP",
        help=f"report.md: round-trip fee per trade, basis points ({DEFAULT_FEE_BPS:g})",
    )  # fmt: skip
    f.add_argument(
        "--advice-precision", type=_unit, default=None, metavar="P",
        help="report.md: advise the lowest threshold reaching this test precision "
        "(default: the test precision at --threshold)",
    )  # fmt: skip
    add_backtest_parser(sub)
    add_monitor_parser(sub)
    add_compare_parser(sub)
    return p


def _symbol_values(flag: str, specs: list[str], default: float | None) -> dict[str, float]:
    """SYMBOL=X pairs (X may be omitted when there is a default)."""
    out = {}
    for spec in specs:
        sym, eq, val = spec.partition("=")
        try:
            if not sym or (not eq and default is None):
                raise ValueError
            out[sym] = float(val) if eq else float(default)  # type: ignore[arg-type]
        except ValueError:
            raise InputError(f"{flag} {spec!r}: want SYMBOL=NUMBER") from None
    return out


JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def cmd_sample(a: argparse.Namespace) -> int:
    from train.data.parquet import PARQUET_SUFFIXES
    from train.data.sample import generate, write

    if a.out.suffix not in (*PARQUET_SUFFIXES, *JSONL_SUFFIXES):
        # The file is written in one of the two formats fit reads; a .csv name would
        # hide that it holds JSON Lines.
        raise InputError(
            f"--out {a.out}: name the format by the suffix: "
            f"{', '.join(PARQUET_SUFFIXES)} (Parquet) or {', '.join(JSONL_SUFFIXES)} (JSON Lines)"
        )
    vol = _symbol_values("--volatility", a.volatility, None)
    collapse = _symbol_values("--collapse", a.collapse, 0.0)
    if any(v <= 0 for v in vol.values()) or any(not 0 <= v <= 1 for v in collapse.values()):
        raise InputError("--volatility wants multipliers > 0, --collapse fractions in [0, 1]")
    cols = generate(a.rows, a.symbols, a.seed, a.signal, vol, a.regime_change, collapse)
    write(cols, a.out)
    log.info("wrote %d records (%s, signal=%s) to %s", a.rows, ",".join(a.symbols), a.signal, a.out)
    print(a.out.resolve())
    return 0


def cmd_fit(a: argparse.Namespace) -> int:
    from train.fit import FitOptions
    from train.labels.labeler import LabelParams
    from train.publish.run import FitArgs, parse_families, run_fit
    from train.publish.trader import TraderOptions

    feats = parse_features(a.features)
    folds = a.cv_folds or (5 if a.search == "grid" else 3)
    if folds < 2:
        raise InputError("--cv-folds must be at least 2")
    model = a.model or ("xgb" if a.engine == "dask" else DEFAULT_FAMILY)
    if a.engine == "dask" and model != "xgb":
        raise InputError(f"--engine dask trains xgb (xgboost.dask); --model {model} is local only")
    if a.engine == "local" and a.scheduler != "local":
        raise InputError("--scheduler needs --engine dask")
    if a.engine == "dask" and a.max_bad:
        raise InputError("--max-bad skips malformed JSON lines; --engine dask reads Parquet only")
    if a.engine == "dask" and a.walk_forward:
        raise InputError("--walk-forward retrains in one process: use it with --engine local")
    if not a.fee_bps >= 0:
        raise InputError(f"--fee-bps must be >= 0 basis points, got {a.fee_bps}")
    tune = a.tune_rows if a.tune_rows is not None else (20000 if a.search == "grid" else 100000)
    args = FitArgs(
        data=a.data,
        out=a.out,
        features=feats,
        label=LabelParams(a.lookahead, a.sigma, a.min_dist, a.min_std),
        families=parse_families(model),
        opts=FitOptions(
            search=a.search,
            n_splits=folds,
            tune_rows=tune or None,
            calibration=a.calibrate,
            threshold=a.threshold,
            target_precision=a.target_precision,
            min_approvals=a.min_approvals,
            max_parity=a.max_parity,
            min_agreement=a.min_agreement,
            max_auc_delta=a.max_auc_delta,
            seed=a.seed,
        ),
        symbol=a.symbol,
        embargo_s=a.embargo,
        max_bad=a.max_bad,
        min_auc=a.min_auc,
        max_parity=a.max_parity,
        report=not a.no_report,
        walk_forward_s=a.walk_forward,
        engine=a.engine,
        scheduler=a.scheduler,
        workers=a.workers,
        trader=TraderOptions(fee_bps=a.fee_bps, advice_precision=a.advice_precision),
    )
    path = run_fit(args)
    log.info("published %s", path)
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)  # exits 2 on bad arguments
    logging.basicConfig(
        level=getattr(logging, str(a.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return {
            "sample": cmd_sample,
            "fit": cmd_fit,
            "backtest": cmd_backtest,
            "monitor": cmd_monitor,
            "compare": cmd_compare,
        }[a.cmd](a)
    except InputError as e:
        print(f"train {a.cmd}: error: {e}", file=sys.stderr)
        return 2
    except GateFailedError as e:
        print(f"train fit: quality gate failed, nothing published: {e}", file=sys.stderr)
        return 1
    except ExportError as e:
        print(f"train fit: ONNX export failed, nothing published: {e}", file=sys.stderr)
        return 1
