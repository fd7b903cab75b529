"""`train fit --engine dask` on a real LocalCluster (2 worker processes).

Same labels as the single-machine labeler, the same split, a test AUC within
0.01 of the local xgb model, and a model the real `infer` sidecar serves.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.infer.sidecar import Sidecar
from train.cli import main
from train.data.load import read_records
from train.labels.labeler import LabelParams, label_records

distributed = pytest.importorskip("distributed", reason="pip install .[dask]")

FEATS = ["tick_ratio", "depth_ratio", "price_dist"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("data")
    # Two files: the cluster reads a directory, and symbols span both files.
    for i, seed in enumerate((7, 8)):
        p = d / f"part-{i}.parquet"
        syms = ["BTCUSDT", "ETHUSDT"] if i == 0 else ["SOLUSDT", "XRPUSDT"]
        assert main(["sample", "--out", str(p), "--rows", "8000", "--seed", str(seed),
                     "--symbols", *syms]) == 0  # fmt: skip
    return d


@pytest.fixture(scope="module")
def bot_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a user has: the bot simulator's bbolt file, exported as Parquet by `export`."""
    bins = tmp_path_factory.mktemp("bin")
    for cmd in ("gendb", "export"):
        subprocess.run(["go", "build", "-o", str(bins / cmd), f"./cmd/{cmd}"], cwd=ROOT / "go",
                       check=True)  # fmt: skip
    d = tmp_path_factory.mktemp("bot")
    subprocess.run([str(bins / "gendb"), "-db", str(d / "bot.db"), "-hours", "5", "-symbols",
                    "BTCUSDT,ETHUSDT", "-seed", "3", "-end", "2026-11-24T00:00:00Z"],
                   check=True, capture_output=True)  # fmt: skip
    out = d / "features" / "part-0.parquet"
    out.parent.mkdir()
    subprocess.run([str(bins / "export"), "-db", str(d / "bot.db"), "-output", str(out),
                    "-format", "parquet"], check=True, capture_output=True)  # fmt: skip
    return out.parent


def _headings(report: str) -> list[str]:
    return [ln for ln in report.splitlines() if ln.startswith("## ")]


def _manifest(out: Path) -> dict:
    (model,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    return json.loads((model / "manifest.json").read_text()) | {"_dir": str(model)}


def test_dask_labels_equal_the_single_machine_labeler(cluster, data: Path) -> None:
    from train.distributed.engine import label_frame

    params = LabelParams()
    with distributed.Client(cluster) as client:
        _, lab = label_frame(data, FEATS, params, None)
        got = client.compute(lab[["symbol", "ts", "y"]]).result()
    recs = read_records(data, FEATS)
    codes = np.unique(recs.symbols, return_inverse=True)[1]
    c = recs.columns
    want = label_records(codes, recs.ts_ns, c["price"], c["vwap"], c["std_dev"], params)
    assert len(got) == len(want) == 16000
    have = sorted(zip(got["symbol"].tolist(), got["ts"].tolist(), got["y"].tolist(), strict=True))
    ref = sorted(zip(recs.symbols.tolist(), recs.ts_ns.tolist(), want.tolist(), strict=True))
    assert have == ref
    assert (want == 1).sum() > 1000 and (want == -1).sum() > 0  # positives and censored rows


def test_dask_fit_matches_local_xgb_writes_the_same_report_and_serves_through_infer(
    cluster, bot_data: Path, tmp_path: Path
) -> None:
    # --target-precision and --calibrate auto: options that run through the shared code.
    common = ["fit", "--data", str(bot_data), "--model", "xgb", "--seed", "1",
              "--cv-folds", "2", "--tune-rows", "4000", "--target-precision", "0.6",
              "--calibrate", "auto"]  # fmt: skip
    assert main([*common, "--out", str(tmp_path / "local")]) == 0
    remote = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    assert main([*common, "--out", str(tmp_path / "dask"), *remote]) == 0
    local, dask = _manifest(tmp_path / "local"), _manifest(tmp_path / "dask")
    # The same split, row for row counts, and the same model quality on it.
    assert dask["data"]["rows"] == local["data"]["rows"]
    assert dask["data"]["first"] == local["data"]["first"]
    assert abs(dask["metrics"]["test"]["auc"] - local["metrics"]["test"]["auc"]) <= 0.01
    assert dask["metrics"]["test"]["auc"] > 0.7
    assert dask["model_family"] == "xgb" and dask["gates"] == local["gates"]
    assert set(dask["variants"]) == set(local["variants"])
    for m in (local, dask):
        assert m["training"]["target_precision"]["threshold"] == m["default_threshold"]
        assert m["training"]["calibration_choice"]["requested"] == "auto"
    # The same report, trading terms included, computed on the test split it collected.
    lrep = (Path(local["_dir"]) / "report.md").read_text()
    drep = (Path(dask["_dir"]) / "report.md").read_text()
    assert _headings(drep) == _headings(lrep)
    # The per-symbol figures and the served promise, which `train monitor` judges.
    assert set(dask["metrics"]["per_symbol"]) == set(local["metrics"]["per_symbol"]) == {
        "BTCUSDT", "ETHUSDT"}  # fmt: skip
    assert set(dask["metrics"]["served"]["per_symbol"]) == {"BTCUSDT", "ETHUSDT"}
    report = tmp_path / "monitor.json"
    assert main(["monitor", "--model", dask["_dir"], "--data", str(bot_data), "--resamples",
                 "200", "--json", str(report)]) in (0, 3)  # fmt: skip
    judged = json.loads(report.read_text())
    assert set(judged["scopes"]) == {"all", "BTCUSDT", "ETHUSDT"}, judged
    for sym in ("BTCUSDT", "ETHUSDT"):  # each held to its own test-split promise
        assert judged["scopes"][sym]["test"]["precision"] is not None
    assert "## In trading terms (test split)" in drep and "## Calibration" in drep
    trading = json.loads((Path(dask["_dir"]) / "trading.json").read_text())
    assert trading["rows"][0]["reversion_all"] is not None
    assert trading["rows"][0]["reversion_all"] == pytest.approx(
        json.loads((Path(local["_dir"]) / "trading.json").read_text())["rows"][0]["reversion_all"]
    )

    rows = [[0.5, -0.2, 1.8], [-0.4, 0.3, -2.2], [0.0, 0.0, 0.1]]
    sess = ort.InferenceSession(
        str(Path(dask["_dir"]) / "model.onnx"), providers=["CPUExecutionProvider"]
    )
    outs = sess.run(None, {sess.get_inputs()[0].name: np.array(rows, dtype=np.float32)})
    with Sidecar(dask["_dir"]) as sc:
        info = sc.ready()
        assert info["model"]["version"] == dask["version"], info
        res = sc.result("predict", [rows])
    assert res["version"] == dask["version"]
    assert len(res["p"]) == 3 and all(0.0 <= p <= 1.0 for p in res["p"])
    assert res["p"][0] != res["p"][1]  # the model tells the rows apart
    assert outs  # the graph itself runs in onnxruntime


def test_dask_engine_refuses_json_lines_other_families_and_local_only_options(
    tmp_path: Path, capsys
) -> None:
    p = tmp_path / "s.jsonl"
    assert main(["sample", "--out", str(p), "--rows", "300"]) == 0
    assert main(["fit", "--data", str(p), "--out", str(tmp_path), "--engine", "dask"]) == 2
    assert "reads Parquet" in capsys.readouterr().err
    assert main(["fit", "--data", str(p), "--out", str(tmp_path), "--engine", "dask",
                 "--model", "gbm"]) == 2  # fmt: skip
    assert "trains xgb" in capsys.readouterr().err
    assert main(["fit", "--data", str(p), "--out", str(tmp_path), "--engine", "dask",
                 "--max-bad", "3"]) == 2  # fmt: skip
    assert "--max-bad" in capsys.readouterr().err
    assert main(["fit", "--data", str(p), "--out", str(tmp_path), "--engine", "dask",
                 "--walk-forward", "1h"]) == 2  # fmt: skip
    assert "--walk-forward" in capsys.readouterr().err


def test_exact_order_statistics_and_moments_match_numpy(cluster) -> None:
    import dask.array as da

    from train.distributed.dask_stats import kth, kth_columns, moments

    rng = np.random.default_rng(4)
    ts = np.sort(rng.integers(1_795_000_000, 1_796_000_000, 30_000)) * 1_000_000_000
    ts[100:400] = ts[100]  # a run of equal timestamps, as the bot records them
    x = rng.normal(size=(30_000, 2)).astype(np.float32)
    with distributed.Client(cluster) as client:
        tparts = da.from_array(ts, chunks=7_000).to_delayed().ravel()
        ks = [0, 150, 17_999, 29_999]
        assert kth(client, list(tparts), ks) == np.sort(ts)[ks].tolist()
        xparts = list(da.from_array(x, chunks=(6_000, 2)).to_delayed().ravel())
        mean, std, n, mn, mx = moments(client, xparts)
        q = kth_columns(client, xparts, n)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, x64.std(axis=0), rtol=1e-12)
    assert n == 30_000 and (mn == x.min(axis=0)).all() and (mx == x.max(axis=0)).all()
    for j in range(2):
        np.testing.assert_allclose(q[j], np.quantile(x64[:, j], [0.001, 0.999]), rtol=1e-12)


FAST = ["--model", "xgb", "--seed", "1", "--cv-folds", "2", "--tune-rows", "3000", "--no-report"]


def _sample(path: Path, rows: int, symbols: list[str], seed: int = 5) -> pa.Table:
    assert main(["sample", "--out", str(path), "--rows", str(rows), "--seed", str(seed),
                 "--symbols", *symbols]) == 0  # fmt: skip
    return pq.read_table(path)


def _fit_both(cluster, data: Path, out: Path, *extra: str) -> tuple[dict, dict]:
    """The local and the dask model's manifests, trained on the same input."""
    common = ["fit", "--data", str(data), *FAST, *extra]
    assert main([*common, "--out", str(out / "local")]) == 0
    remote = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    assert main([*common, "--out", str(out / "dask"), *remote]) == 0
    return _manifest(out / "local"), _manifest(out / "dask")


def _partition_sizes(cluster, data: Path) -> list[int]:
    from train.distributed.engine import label_frame

    with distributed.Client(cluster) as client:
        _, lab = label_frame(data, FEATS, LabelParams(), None)
        return client.compute(lab.map_partitions(len)).result().tolist()


def _three_files(d: Path, t: pa.Table) -> None:
    n = t.num_rows
    for i in range(3):  # time slices: every symbol in every file
        pq.write_table(t.slice(i * n // 3, (i + 1) * n // 3 - i * n // 3), d / f"part-{i}.parquet")


def _hive(d: Path, t: pa.Table) -> None:
    """symbol=X/hour=H/part-{0,1}.parquet; the symbol lives in the path only."""
    keys = [(s, ts[:13]) for s, ts in zip(t["symbol"].to_pylist(), t["timestamp"].to_pylist(),
                                          strict=True)]  # fmt: skip
    for sym, hour in sorted(set(keys)):
        part = t.filter(pa.array([k == (sym, hour) for k in keys]))
        where = d / f"symbol={sym}" / f"hour={hour.replace(':', '')}"
        where.mkdir(parents=True)
        half = part.num_rows // 2
        pq.write_table(part.slice(0, half).drop_columns(["symbol"]), where / "part-0.parquet")
        pq.write_table(part.slice(half).drop_columns(["symbol"]), where / "part-1.parquet")


@pytest.mark.parametrize(
    ("layout", "symbols"),
    [(_three_files, ["BTCUSDT", "ETHUSDT", "SOLUSDT"]), (_hive, ["BTCUSDT", "ETHUSDT"])],
    ids=["three-files", "hive"],
)
def test_dask_trains_when_the_shuffle_leaves_partitions_empty(
    cluster, tmp_path: Path, layout, symbols: list[str]
) -> None:
    """Fewer symbols than input files: some partitions of the shuffle on symbol are
    empty. The fit used to crash there (StandardScaler on 0 rows, exit 1); now it
    trains the same split as the local engine."""
    t = _sample(tmp_path / "s.parquet", 9000, symbols)
    data = tmp_path / "data"
    data.mkdir()
    layout(data, t)
    sizes = _partition_sizes(cluster, data)
    assert 0 in sizes and sum(sizes) == 9000, sizes  # the case this test is about
    local, dask = _fit_both(cluster, data, tmp_path)
    assert dask["data"]["rows"] == local["data"]["rows"]
    assert (dask["data"]["first"], dask["data"]["last"]) == (local["data"]["first"],
                                                             local["data"]["last"])  # fmt: skip
    assert abs(dask["metrics"]["test"]["auc"] - local["metrics"]["test"]["auc"]) <= 0.01
    assert set(dask["metrics"]["per_symbol"]) == set(symbols)


def test_every_dask_step_takes_an_empty_partition(cluster) -> None:
    import dask.array as da
    import dask.dataframe as dd
    import pandas as pd

    from train.distributed.dask_stats import count_codes, kth, moments
    from train.distributed.engine import (
        DUPLICATE,
        _frame_meta,
        _label_partition,
        _scale_block,
        exact_scaler_from_moments,
    )

    cols = {c: np.zeros(0) for c in ["price", "vwap", "std_dev", *FEATS]}
    empty = pd.Series([], dtype="string")
    raw = pd.DataFrame({"symbol": empty, "timestamp": empty, **cols})
    out = _label_partition(raw, FEATS, LabelParams(), None)
    assert len(out) == 0 and out.dtypes.equals(_frame_meta(FEATS).dtypes)
    scaler = exact_scaler_from_moments(np.zeros(3), np.ones(3), 10)
    got = _scale_block(scaler, np.zeros((0, 3), np.float32))
    assert got.shape == (0, 3) and got.dtype == np.float32
    # The statistics over parts of which one is empty.
    x = np.arange(12, dtype=np.float64).reshape(6, 2)

    def parts(*arrays):
        return [da.from_array(a).to_delayed().ravel()[0] for a in arrays]

    y = pd.Series(np.array([1, 0, DUPLICATE, -1], np.int8))
    codes = dd.concat([dd.from_pandas(y.iloc[:0], npartitions=1), dd.from_pandas(y, npartitions=1)])
    with distributed.Client(cluster) as client:
        mean, std, n, _, _ = moments(client, parts(x[:4], x[:0], x[4:]))
        assert kth(client, parts(x[:4, 0], x[:0, 0], x[4:, 0]), [0, 5]) == [0.0, 10.0]
        assert count_codes(client, codes, DUPLICATE) == {-4: 1, -3: 0, -2: 0, -1: 1, 0: 1, 1: 1}
    np.testing.assert_allclose(mean, x.mean(axis=0))
    np.testing.assert_allclose(std, x.std(axis=0))
    assert n == 6


def _replayed(d: Path, t: pa.Table) -> int:
    """t in one file and, in a second, a replay of 1 500 of its records, a near
    duplicate (one feature differs) and twice a record with a NaN feature (NaN
    equals nothing: not a duplicate). Returns the exact duplicates (1 500)."""
    near = t.slice(100, 1)
    near = near.set_column(near.schema.get_field_index("tick_ratio"), "tick_ratio",
                           pa.array([0.123456]))  # fmt: skip
    nan = t.slice(200, 1)
    nan = nan.set_column(nan.schema.get_field_index("depth_ratio"), "depth_ratio",
                         pa.array([float("nan")]))  # fmt: skip
    pq.write_table(pa.concat_tables([t, nan]), d / "part-0.parquet")
    pq.write_table(pa.concat_tables([t.slice(3000, 1500), near, nan]), d / "part-1.parquet")
    return 1500


@pytest.mark.parametrize("symbol", [None, "ETHUSDT"])
def test_dask_drops_exact_duplicates_as_the_local_engine(
    cluster, tmp_path: Path, symbol: str | None
) -> None:
    """A replayed export: both engines drop the same duplicates, say so and train
    on the same rows (the dask engine used to train on the duplicates silently)."""
    t = _sample(tmp_path / "s.parquet", 9000, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    data = tmp_path / "data"
    data.mkdir()
    dups = _replayed(data, t)
    local, dask = _fit_both(cluster, data, tmp_path, *(["--symbol", symbol] if symbol else []))
    rows = dask["data"]["rows"]
    assert rows == local["data"]["rows"]
    assert rows["duplicates"] == dups and rows["read"] == 9000 + dups + 3
    if symbol:  # the other symbols' records, their duplicates out
        syms = t["symbol"].to_pylist()
        extra = [syms[100], syms[200], syms[200]]  # the near duplicate and the NaN record
        assert rows["other_symbols"] == sum(s != symbol for s in syms + extra)
    (lw,) = [w for w in local["data"]["warnings"] if w["kind"] == "duplicates"]
    (dw,) = [w for w in dask["data"]["warnings"] if w["kind"] == "duplicates"]
    assert dw["count"] == lw["count"] == dups and dw["message"] == lw["message"]
    assert len(dw["examples"]) == 3
    assert abs(dask["metrics"]["test"]["auc"] - local["metrics"]["test"]["auc"]) <= 0.01


def test_dask_engine_names_a_missing_input(cluster, tmp_path: Path, capsys) -> None:
    remote = ["--engine", "dask", "--scheduler", cluster.scheduler_address]
    missing = tmp_path / "nonexistent.parquet"
    assert main(["fit", "--data", str(missing), "--out", str(tmp_path / "m"), *remote]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: no such file or directory" in err and "read_parquet" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["fit", "--data", str(empty), "--out", str(tmp_path / "m"), *remote]) == 2
    assert "holds no *.parquet files" in capsys.readouterr().err
