"""The arguments `fit` and `backtest` share (data, labels, gate, decision) and their types.

Kept import-light like train/cli.py: `train --help` must answer at once.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from modelformat.defaults import (
    DEFAULT_FEATURES,
    DEFAULT_MIN_AUC,
    DEFAULT_THRESHOLD,
    KNOWN_FEATURES,
    LABEL_LOOKAHEAD_S,
    LABEL_MIN_DIST_SIGMA,
    LABEL_MIN_STD,
    LABEL_THRESHOLD_SIGMA,
)
from train.choices import CALIBRATIONS
from train.errors import InputError


def _number(s: str, cast: type[int] | type[float] = float) -> float:
    """s as a number, or the error argparse shows: "argument --x: want a number, got 'abc'"
    (a plain ValueError would make argparse name this module's private helper instead)."""
    try:
        return cast(s)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"want {'a whole number' if cast is int else 'a number'}, got {s!r}"
        ) from None


def _positive_int(s: str) -> int:
    v = int(_number(s, int))
    if v <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {s}")
    return v


def _non_negative_int(s: str) -> int:
    v = int(_number(s, int))
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {s}")
    return v


def _unit(s: str) -> float:
    v = _number(s)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {s}")
    return v


def _open_unit(s: str) -> float:
    v = _number(s)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {s}")
    return v


def _threshold(s: str) -> float:
    """A decision threshold strictly inside (0, 1): 0 approves everything, 1 nothing (or
    only an isotonic 1.0), and the manifest refuses both without an explicit opt-in."""
    v = _number(s)
    if not 0.0 < v < 1.0:
        raise argparse.ArgumentTypeError(
            f"must be strictly between 0 and 1, got {s} (0 approves every candidate, 1 none)"
        )
    return v


def _positive(s: str) -> float:
    v = _number(s)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {s}")
    return v


def out_dir(s: str) -> Path:
    """An output directory: one that exists, or one that can be made, checked before a long
    run rather than when its results are written."""
    p = Path(s)
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{s} exists and is not a directory")
    parent = next((a for a in p.absolute().parents if a.exists()), None)
    if not p.exists() and parent is not None and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{s}: {parent} is not a directory")
    return p


def add_data_args(p: argparse.ArgumentParser) -> None:
    """What `fit` and `backtest` share: the data, its labels, the gate and the decision."""
    p.add_argument(
        "--data", required=True, type=Path,
        help="JSON Lines file, Parquet file, or a directory of Parquet files",
    )  # fmt: skip
    p.add_argument("--symbol", help="one symbol only (default: all symbols)")
    p.add_argument(
        "--features", default=",".join(DEFAULT_FEATURES), help="comma-separated, in order"
    )
    p.add_argument(
        "--lookahead", type=_positive, default=LABEL_LOOKAHEAD_S,
        help=f"label window, s ({LABEL_LOOKAHEAD_S:g})",
    )  # fmt: skip
    p.add_argument(
        "--sigma", type=_positive, default=LABEL_THRESHOLD_SIGMA,
        help=f"reversion threshold, sigma ({LABEL_THRESHOLD_SIGMA:g})",
    )  # fmt: skip
    p.add_argument(
        "--min-dist", type=float, default=LABEL_MIN_DIST_SIGMA,
        help=f"candidate |dist|, sigma ({LABEL_MIN_DIST_SIGMA:g})",
    )  # fmt: skip
    p.add_argument(
        "--min-std", type=_positive, default=LABEL_MIN_STD,
        help=f"floor on std_dev ({LABEL_MIN_STD:g})",
    )  # fmt: skip
    p.add_argument("--embargo", type=float, default=0.0, help="gap between splits, s (≥ lookahead)")
    p.add_argument(
        "--calibrate", choices=CALIBRATIONS, default="sigmoid",
        help="sigmoid (default), isotonic, none, or auto: the lowest cross-fitted log-loss",
    )  # fmt: skip
    p.add_argument(
        "--threshold", type=_threshold, default=DEFAULT_THRESHOLD,
        help=f"decision threshold ({DEFAULT_THRESHOLD})",
    )  # fmt: skip
    p.add_argument(
        "--min-auc", type=float, default=DEFAULT_MIN_AUC, help=f"gate: test AUC ({DEFAULT_MIN_AUC})"
    )
    p.add_argument(
        "--max-bad", type=_non_negative_int, default=0, help="malformed lines to skip (0)"
    )
    p.add_argument("--seed", type=int, default=0)


def parse_features(spec: str) -> list[str]:
    feats = [x.strip() for x in spec.split(",") if x.strip()]
    unknown = [x for x in feats if x not in KNOWN_FEATURES]
    if not feats or unknown or len(set(feats)) != len(feats):
        raise InputError(
            f"--features {spec!r}: give distinct names from {', '.join(KNOWN_FEATURES)}"
        )
    return feats


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")


def parse_duration(text: str) -> float:
    """'1d', '6h', '30m', '90s', '1w' → seconds (> 0)."""
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise ValueError(
            f"duration {text!r}: give a positive number and a unit s, m, h, d or w (e.g. 1d, 6h)"
        )
    return float(m.group(1)) * _UNITS[m.group(2)]


def duration(text: str) -> float:
    """argparse type: '1d', '6h', '30m' → seconds."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
