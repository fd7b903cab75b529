"""Parquet input read in batches (labeled per symbol by train/labels/per_symbol.py).

Why pyarrow and not polars or pandas: pyarrow is already a dependency (the
exporter's Parquet is read with it, and dask reads Parquet through it), it
streams a file or a directory of files (hive partitions such as symbol=BTCUSDT/
or day=2026-11-24/ included) as record batches, and each batch converts to
NumPy without copying per value. Nothing ever holds the text of a record: a
row costs 8 bytes of timestamp, 8 of symbol reference, 8 per price column and
4 per feature column (float32), so 5·10⁷ rows of the default three features
fit in about 2.5 GiB before labeling (10.3 GiB peak with labeling and
cleaning, measured by bench/scale.py).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from modelformat.manifest import sha256_file
from train.data.records import LABEL_COLUMNS, Records, parse_timestamp
from train.errors import InputError

log = logging.getLogger("train")
PARQUET_SUFFIXES = (".parquet", ".pq")
BATCH_ROWS = 1 << 20


def is_parquet(path: Path) -> bool:
    return path.is_dir() or path.suffix in PARQUET_SUFFIXES


def parquet_files(path: Path) -> list[Path]:
    """The Parquet files of a file or a directory tree, in a stable order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix in PARQUET_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{path}: directory holds no *.parquet files")
    return files


def sha256_data(path: Path) -> str:
    """sha256 of a file, or of a directory's Parquet files (relative names and contents)."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in parquet_files(path):
        h.update(f"{f.relative_to(path).as_posix()}\0{sha256_file(f)}\n".encode())
    return h.hexdigest()


def open_dataset(path: Path):
    import pyarrow.dataset as pads

    try:
        return pads.dataset(
            [str(f) for f in parquet_files(path)] if path.is_dir() else str(path),
            format="parquet",
            partitioning="hive" if path.is_dir() else None,
            partition_base_dir=str(path) if path.is_dir() else None,
        )
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for a bad file
        raise InputError(f"{path}: not readable as Parquet: {e}") from None


def timestamps_ns(col, where: str) -> np.ndarray:
    """A timestamp column (Parquet TIMESTAMP, RFC 3339 strings or epoch seconds) → UTC ns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if col.null_count:
        raise InputError(f"{where}: {col.null_count} record(s) without a timestamp")
    if pa.types.is_timestamp(t):
        if t.tz is None:
            col = pc.assume_timezone(col, "UTC")
        return pc.cast(pc.cast(col, pa.timestamp("ns", tz="UTC")), pa.int64()).to_numpy()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            return pc.cast(pc.cast(col, pa.timestamp("ns", tz="UTC")), pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # an offset arrow does not parse: the slow exact parser
            try:
                return np.array([parse_timestamp(v) for v in col.to_pylist()], dtype=np.int64)
            except ValueError as e:
                raise InputError(f"{where}: {e}") from None
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        seconds = col.to_numpy(zero_copy_only=False).astype(np.float64)
        ns = seconds * 1e9
        # NaN, ±Inf, or beyond int64 nanoseconds (1677-2262): no time, and the cast below
        # would make it 1677 silently. Nanoseconds or milliseconds read as seconds end here.
        bad = np.flatnonzero(~(np.abs(ns) < 2.0**63))
        if len(bad):
            raise InputError(
                f"{where}: {len(bad)} timestamp(s) out of range, first {float(seconds[bad[0]])!r} "
                "(a number is read as epoch seconds)"
            )
        return np.round(ns).astype(np.int64)
    raise InputError(f"{where}: column 'timestamp' has type {t}, not a timestamp")


def read_parquet_batches(path: Path, needed: list[str], float32: set[str]) -> Records:
    """Read `symbol`, `timestamp` and `needed` from a Parquet file or directory in batches.

    Columns in `float32` are kept as float32 (the feature matrix), the others
    (the price path the labels come from) as float64. The symbol column is
    stored as references into the few distinct names, 8 bytes a row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    dset = open_dataset(path)
    names = set(dset.schema.names)
    missing = [c for c in ["symbol", "timestamp", *needed] if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    # The dataset's schema is its first file's: one file without a column would be
    # read as nulls, and its rows dropped as NaN without a word.
    for frag in dset.get_fragments():
        try:
            have = frag.physical_schema.names
        except pa.ArrowException as e:  # a later file corrupt: only the first was opened
            raise InputError(f"{frag.path}: not readable as Parquet: {e}") from None
        lacking = [c for c in needed if c not in have]
        if lacking:
            raise InputError(f"{frag.path}: missing column(s) {', '.join(lacking)}")
    n = dset.count_rows()
    ts = np.empty(n, dtype=np.int64)
    sym_codes = np.empty(n, dtype=np.int32)
    cols = {c: np.empty(n, dtype=np.float32 if c in float32 else np.float64) for c in needed}
    vocab: dict[str, int] = {}
    pos = 0
    batches = iter(dset.to_batches(columns=["symbol", "timestamp", *needed], batch_size=BATCH_ROWS))
    while True:
        where = f"{path} (rows {pos}..)"
        try:  # a corrupt file further in, a value of another type, both raise only here
            batch = next(batches, None)
            if batch is None:
                break
            m = batch.num_rows
            where = f"{path} (rows {pos}..{pos + m})"
            ts[pos : pos + m] = timestamps_ns(batch.column("timestamp"), where)
            sym = batch.column("symbol")
            if not pa.types.is_dictionary(sym.type):
                sym = pc.dictionary_encode(sym)
            if sym.null_count:
                raise InputError(f"{where}: {sym.null_count} record(s) without a symbol")
            local = np.array([vocab.setdefault(s, len(vocab)) for s in sym.dictionary.to_pylist()])
            sym_codes[pos : pos + m] = local[sym.indices.to_numpy(zero_copy_only=False)]
            for c in needed:
                # A null (an absent optional feature) becomes NaN: the cleaner drops and counts it.
                v = pc.cast(batch.column(c), pa.float64()).to_numpy(zero_copy_only=False)
                cols[c][pos : pos + m] = v
        except (pa.ArrowException, OSError) as e:
            raise InputError(f"{where}: {e}") from None
        pos += m
    # The batches are gone; hand arrow's cached buffers back before labeling needs the memory.
    pa.default_memory_pool().release_unused()
    vocab_arr = np.array(list(vocab), dtype=object)
    log.info("read %d rows, %d symbols from %s", n, len(vocab), path)
    return Records(symbols=vocab_arr[sym_codes], ts_ns=ts, columns=cols, read=n, source=str(path))


def read_parquet_records(path: Path, features: list[str]) -> Records:
    """What `train fit` reads from Parquet: label columns float64, features float32."""
    needed = list(dict.fromkeys([*LABEL_COLUMNS, *features]))
    recs = read_parquet_batches(path, needed, float32=set(features) - set(LABEL_COLUMNS))
    if len(recs) == 0:
        raise InputError(f"{path}: no records")
    return recs
