"""Parquet input: the Go exporter's files, directories of files, batches, float32 features."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from train.data.load import read_records
from train.data.parquet import sha256_data
from train.data.sample import generate, write
from train.errors import InputError
from train.labels.labeler import LabelParams, label_records
from train.labels.per_symbol import label_per_symbol

ROOT = Path(__file__).resolve().parents[2]
FEATS = ["tick_ratio", "depth_ratio", "price_dist"]


@pytest.fixture(scope="module")
def go_bins(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """gendb and export, built once."""
    out = tmp_path_factory.mktemp("bin")
    for cmd in ("gendb", "export"):
        subprocess.run(
            ["go", "build", "-o", str(out / cmd), f"./cmd/{cmd}"], cwd=ROOT / "go", check=True
        )
    return out


def test_go_exporter_parquet_reads_like_its_json_lines(go_bins: Path, tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    subprocess.run(
        [str(go_bins / "gendb"), "-db", str(db), "-hours", "1", "-symbols", "BTCUSDT,ETHUSDT",
         "-seed", "5", "-end", "2026-11-24T00:00:00Z", "-corrupt", "3"],
        check=True, capture_output=True,
    )  # fmt: skip
    for fmt in ("jsonl", "parquet"):
        res = subprocess.run(
            [str(go_bins / "export"), "-db", str(db), "-output", str(tmp_path / f"f.{fmt}")],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert "skipped 3" in res.stderr, res.stderr
    schema = pq.read_schema(tmp_path / "f.parquet")
    assert schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert schema.field("price").type == pa.float64()
    a = read_records(tmp_path / "f.jsonl", FEATS)
    b = read_records(tmp_path / "f.parquet", FEATS)
    assert len(a) == len(b) > 1000
    assert (a.ts_ns == b.ts_ns).all() and (a.symbols == b.symbols).all()
    for c in ["price", "vwap", "std_dev"]:
        assert b.columns[c].dtype == np.float64
        np.testing.assert_array_equal(a.columns[c], b.columns[c])
    for c in FEATS:
        assert b.columns[c].dtype == np.float32
        np.testing.assert_array_equal(a.columns[c].astype(np.float32), b.columns[c])


def test_directory_of_symbol_partitions_reads_as_one_dataset(tmp_path: Path) -> None:
    cols = generate(3000, ["BTCUSDT", "ETHUSDT"], seed=2, signal="planted")
    write(cols, tmp_path / "all.parquet")
    whole = read_records(tmp_path / "all.parquet", FEATS)
    # Hive layout: symbol=X/day=Y/part.parquet, the symbol only in the path.
    table = pq.read_table(tmp_path / "all.parquet")
    for sym in ("BTCUSDT", "ETHUSDT"):
        part = table.filter(pa.compute.equal(table["symbol"], sym)).drop_columns(["symbol"])
        for i, chunk in enumerate((part.slice(0, 500), part.slice(500))):
            d = tmp_path / "ds" / f"symbol={sym}" / f"day=2026-11-2{i}"
            d.mkdir(parents=True)
            pq.write_table(chunk, d / "part-0.parquet")
    got = read_records(tmp_path / "ds", FEATS)
    assert len(got) == len(whole)
    want = sorted(zip(whole.symbols.tolist(), whole.ts_ns.tolist(), strict=True))
    have = sorted(zip(got.symbols.tolist(), got.ts_ns.tolist(), strict=True))
    assert have == want
    assert got.columns["tick_ratio"].dtype == np.float32
    assert len(sha256_data(tmp_path / "ds")) == 64
    assert sha256_data(tmp_path / "ds") != sha256_data(tmp_path / "all.parquet")


def test_parquet_errors_name_the_file_and_column(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"symbol": ["A"], "timestamp": [1.0], "price": [1.0]}), tmp_path / "x.pq"
    )
    with pytest.raises(InputError, match=r"x\.pq: missing column\(s\) vwap, std_dev"):
        read_records(tmp_path / "x.pq", FEATS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        read_records(tmp_path / "empty", FEATS)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="not readable as Parquet"):
        read_records(tmp_path / "bad.parquet", FEATS)


def test_per_symbol_labels_equal_the_whole_input_labeler() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    codes = rng.integers(0, 4, n)
    ts = np.sort(rng.integers(0, 3_600, n)) * 1_000_000_000
    price = 100 + np.cumsum(rng.normal(0, 0.05, n))
    vwap = price + rng.normal(0, 0.3, n)
    std = np.full(n, 0.2)
    p = LabelParams()
    np.testing.assert_array_equal(
        label_per_symbol(codes, ts, price, vwap, std, p),
        label_records(codes, ts, price, vwap, std, p),
    )
