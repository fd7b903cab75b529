"""`read_records`: the one entry point for input data, JSON Lines or Parquet by path."""

from __future__ import annotations

from pathlib import Path

from train.data.records import LABEL_COLUMNS, Records, read_jsonl
from train.errors import InputError


def read_records(path: str | Path, features: list[str], max_bad: int = 0) -> Records:
    """Read the fields labels and features need; unknown fields are ignored.

    A Parquet file or a directory of them is read in batches by train.data.parquet
    (features float32); anything else is JSON Lines.
    """
    path = Path(path)
    if path.is_dir() or (path.is_file() and path.suffix in (".parquet", ".pq")):
        from train.data.parquet import read_parquet_records

        return read_parquet_records(path, features)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    needed = list(dict.fromkeys([*LABEL_COLUMNS, *features]))
    recs = read_jsonl(path, needed, max_bad)
    if len(recs) == 0:
        raise InputError(f"{path}: no usable records ({recs.read} read, {recs.bad} bad)")
    return recs
