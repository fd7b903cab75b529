"""Reading records: line-numbered errors, --max-bad, timestamp formats, Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from train.data.load import read_records
from train.data.records import parse_timestamp
from train.data.sample import generate, write
from train.errors import InputError

FEATS = ["tick_ratio", "depth_ratio", "price_dist"]
GOOD = {
    "symbol": "BTCUSDT", "timestamp": "2026-11-24T02:00:00Z", "tick_ratio": 0.1,
    "depth_ratio": -0.2, "price_dist": 0.7, "price": 60000.0, "vwap": 59990.0, "std_dev": 12.0,
    "bid_vol": 1.0, "ask_vol": 2.0, "unknown_field": "ignored",
}  # fmt: skip


def _write(tmp_path, lines):
    p = tmp_path / "f.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_bad_line_is_reported_with_its_line_number(tmp_path):
    bad = dict(GOOD)
    del bad["price_dist"]
    p = _write(tmp_path, [json.dumps(GOOD), json.dumps(GOOD), json.dumps(bad)])
    with pytest.raises(InputError, match=r"f\.jsonl:3: missing field 'price_dist'"):
        read_records(p, FEATS, max_bad=0)


def test_max_bad_skips_and_counts_malformed_lines(tmp_path):
    lines = [json.dumps(GOOD), "{not json", json.dumps({**GOOD, "price": "x"}), json.dumps(GOOD)]
    p = _write(tmp_path, lines)
    recs = read_records(p, FEATS, max_bad=2)
    assert (len(recs), recs.read, recs.bad) == (2, 4, 2)
    assert recs.bad_examples[0].endswith(
        "f.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes at column 2"
    )
    assert ":3: field 'price' must be a number" in recs.bad_examples[1]
    with pytest.raises(InputError, match=r":3: .*more than --max-bad=1"):
        read_records(p, FEATS, max_bad=1)


def test_timestamps_rfc3339_with_nanoseconds_offsets_and_epoch_seconds():
    base = parse_timestamp("2026-11-24T02:00:00Z")
    assert parse_timestamp("2026-11-24T02:00:00.123456789Z") == base + 123456789
    assert parse_timestamp("2026-11-24T03:00:00.5+01:00") == base + 500_000_000
    assert parse_timestamp(base / 1e9) == base
    assert parse_timestamp(1795485600) == 1795485600 * 1_000_000_000
    for bad in ("yesterday", "2026-13-01T00:00:00Z", True, None):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_parquet_and_jsonl_of_the_same_sample_read_identically(tmp_path):
    cols = generate(300, ["BTCUSDT", "ETHUSDT"], seed=1, signal="planted")
    write(cols, tmp_path / "s.jsonl")
    write(cols, tmp_path / "s.parquet")
    a = read_records(tmp_path / "s.jsonl", FEATS)
    b = read_records(tmp_path / "s.parquet", FEATS)
    assert (a.ts_ns == b.ts_ns).all() and (a.symbols == b.symbols).all()
    for c in ["price", "vwap", "std_dev"]:  # the price path stays float64 for the labels
        np.testing.assert_allclose(a.columns[c], b.columns[c], atol=1e-9)  # JSONL keeps 10 decimals
    for c in FEATS:  # Parquet keeps features float32, as the model sees them
        assert b.columns[c].dtype == np.float32
        np.testing.assert_allclose(a.columns[c], b.columns[c], rtol=1e-6, atol=1e-9)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_records(tmp_path / "nope.jsonl", FEATS)


def test_values_beyond_any_float_or_time_and_bytes_not_utf8_are_bad_lines(tmp_path):
    """Each is a bad line naming its file and line, never a crash (exit 4) or a silent
    replacement: a replaced byte would make a new symbol of a corrupted one."""
    huge = json.dumps({**GOOD, "price": 10**400})
    far = json.dumps({**GOOD, "timestamp": 1e300})
    p = tmp_path / "f.jsonl"
    p.write_bytes(b"\n".join([
        json.dumps(GOOD).encode(), huge.encode(), far.encode(),
        json.dumps(GOOD).replace("BTCUSDT", "\udcffETH").encode("utf-8", "surrogateescape"),
    ]) + b"\n")  # fmt: skip
    recs = read_records(p, FEATS, max_bad=3)
    assert (len(recs), recs.bad) == (1, 3)
    assert "f.jsonl:2: field 'price' is an integer beyond any float" in recs.bad_examples[0]
    assert "f.jsonl:3: timestamp 1e+300 is out of range" in recs.bad_examples[1]
    assert "f.jsonl:4: not UTF-8 text (byte" in recs.bad_examples[2]


def test_a_parquet_directory_with_a_bad_file_is_refused_naming_it(tmp_path):
    """A file without a column, a truncated file after the first, and a numeric timestamp
    that is no time: each an input error (exit 2) naming the data, never rows dropped
    silently, a crash, or a record dated 1677."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = generate(300, ["BTCUSDT"], seed=1, signal="planted")
    write(cols, tmp_path / "one.parquet")
    table = pq.read_table(tmp_path / "one.parquet")

    def directory(name: str, second: pa.Table | bytes) -> Path:
        d = tmp_path / name
        d.mkdir()
        pq.write_table(table, d / "a.parquet")
        if isinstance(second, bytes):
            (d / "b.parquet").write_bytes(second)
        else:
            pq.write_table(second, d / "b.parquet")
        return d

    lacking = directory("lacking", table.drop_columns(["tick_ratio"]))
    with pytest.raises(InputError, match=r"b\.parquet: missing column\(s\) tick_ratio"):
        read_records(lacking, FEATS)
    blob = (tmp_path / "one.parquet").read_bytes()
    cut = directory("cut", blob[: len(blob) // 2])
    with pytest.raises(InputError, match="cut"):
        read_records(cut, FEATS)
    secs = (read_records(tmp_path / "one.parquet", FEATS).ts_ns / 1e9).tolist()
    secs[5] = float("nan")
    numeric = table.set_column(
        table.schema.get_field_index("timestamp"), "timestamp", pa.array(secs, pa.float64())
    )
    pq.write_table(numeric, tmp_path / "nan.parquet")
    with pytest.raises(InputError, match=r"1 timestamp\(s\) out of range, first nan"):
        read_records(tmp_path / "nan.parquet", FEATS)
