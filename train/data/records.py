"""The exporter's records as column arrays, and the JSON Lines reader.

`Records`, `LABEL_COLUMNS` and `parse_timestamp` are what both readers share
(train/data/parquet.py is the other one; train/data/load.py picks between them).

A malformed JSON line is reported with its line number; up to `max_bad` such
lines are skipped and counted, one more and the read fails.
"""

from __future__ import annotations

import json
import logging
import math
import re
from array import array
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from train.errors import InputError

log = logging.getLogger("train")

# Columns every record needs: the label is computed from the price path.
LABEL_COLUMNS = ("price", "vwap", "std_dev")
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


@dataclass
class Records:
    symbols: np.ndarray  # str objects
    ts_ns: np.ndarray  # int64 UTC nanoseconds
    columns: dict[str, np.ndarray]  # float64
    read: int = 0
    bad: int = 0
    bad_examples: list[str] = field(default_factory=list)
    source: str = ""  # the file or directory read, for messages about the data as a whole

    def __len__(self) -> int:
        return len(self.ts_ns)


def parse_timestamp(value: object) -> int:
    """RFC 3339 (as Go marshals time.Time, up to nanoseconds) or epoch seconds → UTC ns."""
    if isinstance(value, bool):
        raise ValueError("timestamp must be an RFC 3339 string or epoch seconds, got a boolean")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"timestamp {value!r} is not finite")
        ns = value * 1_000_000_000
        if not -(2**63) <= ns < 2**63:  # beyond int64 nanoseconds (1677-2262)
            raise ValueError(f"timestamp {value!r} is out of range")
        return round(ns) if isinstance(ns, float) else ns
    if not isinstance(value, str):
        raise ValueError(f"timestamp must be an RFC 3339 string or epoch seconds, got {value!r}")
    m = _RFC3339.match(value)
    if not m:
        raise ValueError(f"timestamp {value!r} is not RFC 3339 (e.g. 2026-11-24T02:00:00.5Z)")
    base, frac, tz = m.groups()
    tz = "+00:00" if tz == "Z" else tz
    try:
        whole = int(datetime.fromisoformat(base + tz).timestamp())
    except ValueError as e:
        raise ValueError(f"timestamp {value!r}: {e}") from None
    frac_ns = int((frac[1:] + "000000000")[:9]) if frac else 0
    return whole * 1_000_000_000 + frac_ns


def format_timestamp(ts_ns: int) -> str:
    """UTC ns → RFC 3339 with microseconds, as manifests, reports and messages give times."""
    return datetime.fromtimestamp(ts_ns / 1e9, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _number(rec: dict, name: str) -> float:
    if name not in rec:
        raise ValueError(f"missing field {name!r}")
    v = rec[name]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"field {name!r} must be a number, got {v!r}")
    try:
        return float(v)
    except OverflowError:  # an integer of hundreds of digits
        raise ValueError(f"field {name!r} is an integer beyond any float") from None


def read_jsonl(path: Path, needed: list[str], max_bad: int) -> Records:
    # Typed arrays, not lists: 8 bytes a value instead of a 32-byte Python float
    # plus its pointer, and one str object per symbol (interned), not one per line.
    syms: list[str] = []
    names: dict[str, str] = {}
    ts = array("q")
    cols = {c: array("d") for c in needed}
    bad = 0
    examples: list[str] = []
    read = 0
    size = path.stat().st_size
    with (
        open(path, "rb") as f,
        tqdm(total=size, unit="B", unit_scale=True, desc=f"read {path.name}", leave=False) as bar,
    ):
        for lineno, raw in enumerate(f, start=1):
            if lineno % 20000 == 0:
                bar.update(f.tell() - bar.n)  # per line would cost more than the parse
            if not raw.strip():
                continue
            read += 1
            try:
                try:  # a replaced byte would make, say, a new symbol "\ufffdETHUSDT"
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as ue:
                    raise ValueError(f"not UTF-8 text (byte {ue.start + 1} of the line)") from None
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as je:  # its text alone reads like a cut sentence
                    raise ValueError(f"invalid JSON: {je.msg} at column {je.colno}") from None
                if not isinstance(rec, dict):
                    raise ValueError("not a JSON object")
                sym = rec.get("symbol")
                if not isinstance(sym, str) or not sym:
                    raise ValueError(f"field 'symbol' must be a non-empty string, got {sym!r}")
                if "timestamp" not in rec:
                    raise ValueError("missing field 'timestamp'")
                t = parse_timestamp(rec["timestamp"])
                if not -(2**63) <= t < 2**63:
                    raise ValueError(f"timestamp {rec['timestamp']!r} is out of range")
                vals = [_number(rec, c) for c in needed]
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                bad += 1
                msg = f"{path}:{lineno}: {e}"
                if len(examples) < 5:
                    examples.append(msg)
                log.warning("skipping bad record: %s", msg)
                if bad > max_bad:
                    raise InputError(
                        f"{path}:{lineno}: {e} — more than --max-bad={max_bad} bad lines"
                    ) from None
                continue
            syms.append(names.setdefault(sym, sym))
            ts.append(t)
            for c, v in zip(needed, vals, strict=True):
                cols[c].append(v)
    return Records(
        symbols=np.array(syms, dtype=object),
        ts_ns=np.frombuffer(ts, dtype=np.int64),
        columns={c: np.frombuffer(v, dtype=np.float64) for c, v in cols.items()},
        read=read,
        bad=bad,
        bad_examples=examples,
        source=str(path),
    )
