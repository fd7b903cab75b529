"""Hold out the freshest window of an export (scripts/deploy_model.sh's freshness check).

    fresh_window.py DATA --window 6h --train OUT --fresh OUT

Writes the records before T = (newest record - window) to --train and those at
or after T to --fresh, in DATA's format (JSON Lines, one Parquet file, or a
directory of Parquet files: then --train and --fresh are directories with the
same relative file names, hive partition folders included), and prints
`T<TAB>train records<TAB>fresh records` on stdout. A candidate trained
on --train has never seen a record of --fresh; its labels end one lookahead
before T at the latest (a label whose lookahead runs past the data is
censored), so no outcome of the window leaks in either.

A JSON Lines file is split line by line, unchanged; a malformed line (no
readable timestamp) stays with the training records, where `train fit
--max-bad` judges it.

Exit 0 split; 3 nothing to hold out (no record before T, or none at or after
it: the data spans less than the window), with the reason on stdout; 2 bad
input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from train.arguments import parse_duration  # noqa: E402
from train.data.parquet import is_parquet  # noqa: E402
from train.data.records import format_timestamp, parse_timestamp  # noqa: E402
from train.errors import InputError  # noqa: E402

EXIT_SPLIT, EXIT_BAD, EXIT_NOTHING = 0, 2, 3


def _line_ts(line: str) -> int | None:
    try:
        return parse_timestamp(json.loads(line)["timestamp"])
    except (ValueError, KeyError, TypeError):
        return None


def split_jsonl(data: Path, window_ns: int, train: Path, fresh: Path) -> tuple[int, int, int]:
    newest = None
    with data.open(encoding="utf-8") as f:
        for line in f:
            t = _line_ts(line) if line.strip() else None
            if t is not None and (newest is None or t > newest):
                newest = t
    if newest is None:
        raise InputError(f"{data}: no record with a readable 'timestamp'")
    cut = newest - window_ns
    n_train = n_fresh = 0
    with data.open(encoding="utf-8") as f, train.open("w") as tr, fresh.open("w") as fr:
        for line in f:
            if not line.strip():
                continue
            t = _line_ts(line)
            if t is not None and t >= cut:
                fr.write(line)
                n_fresh += 1
            else:
                tr.write(line)
                n_train += 1
    return cut, n_train, n_fresh


def split_parquet(data: Path, window_ns: int, train: Path, fresh: Path) -> tuple[int, int, int]:
    """The split of a Parquet file, or of a directory of them one file at a time (memory
    stays that of the largest file), each file's part written under --train/--fresh at
    the file's path relative to the directory."""
    import pyarrow.parquet as pq

    from train.data.parquet import parquet_files, timestamps_ns

    def read(f: Path, columns: list[str] | None = None):
        try:
            table = pq.read_table(f, columns=columns, partitioning=None)
        except Exception as e:
            raise InputError(f"{f}: not readable as Parquet ({e})") from None
        if "timestamp" not in table.column_names:
            raise InputError(f"{f}: no column 'timestamp'")
        return table, timestamps_ns(table.column("timestamp"), str(f))

    files = parquet_files(data)
    stamps = (read(f, ["timestamp"])[1] for f in files)
    newest = max((int(ts.max()) for ts in stamps if len(ts)), default=None)
    if newest is None:
        raise InputError(f"{data}: no records")
    cut = newest - window_ns
    n_train = n_fresh = 0
    for f in files:
        table, ts = read(f)
        keep = ts >= cut
        for out, rows in ((train, ~keep), (fresh, keep)):
            if rows.any():
                dest = out / f.relative_to(data) if data.is_dir() else out
                dest.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(table.filter(rows), dest)
        n_fresh += int(keep.sum())
        n_train += int((~keep).sum())
    return cut, n_train, n_fresh


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--window", required=True, help="e.g. 6h, 90m, 1d")
    ap.add_argument("--train", required=True, type=Path)
    ap.add_argument("--fresh", required=True, type=Path)
    a = ap.parse_args(argv)
    try:
        window_ns = round(parse_duration(a.window) * 1e9)
        if not (a.data.is_dir() or a.data.is_file()):
            raise InputError(f"{a.data}: no such file or directory")
        split = split_parquet if is_parquet(a.data) else split_jsonl
        cut, n_train, n_fresh = split(a.data, window_ns, a.train, a.fresh)
    except (InputError, ValueError, OSError) as e:
        print(f"fresh_window: error: {e}", file=sys.stderr)
        return EXIT_BAD
    if n_train == 0 or n_fresh == 0:
        print(
            f"{a.data} spans less than the {a.window} window ({n_train} records before "
            f"{format_timestamp(cut)}, {n_fresh} at or after it): nothing to hold out"
        )
        return EXIT_NOTHING
    print(f"{format_timestamp(cut)}\t{n_train}\t{n_fresh}")
    return EXIT_SPLIT


if __name__ == "__main__":
    sys.exit(main())
