"""Scale benchmark (`make bench-scale`): BoltDB → export → `train fit` at 10⁶ … 5·10⁷ rows.

    python -m bench.scale [--rows 1e6,1e7,5e7] [--only export,prepare,fit] [--cap-s 1800]
    python -m bench.scale --report     # re-render the section from the stored results

Data: `gendb` writes the bot's bbolt file (20 symbols, one record per ~2 s
each, planted signal); the Go exporter writes it as JSON Lines and Parquet
(timed: the export table). 5·10⁷ rows would need a 50 GB bbolt file, so that
size is the 10⁷ Parquet export five times over with the symbols renamed
(S00USDT → S00USDT_k: 100 independent symbols, no row of one split in another).

Each run is a child process, niced, with a time cap; its peak memory is the
sum of the RSS of its whole process tree (Dask workers included), sampled
every 0.5 s, and so is the curve kept in the results. Results are merged into
docs/benchmarks/scale.json and rendered into the "Scale" section of
docs/BENCHMARKS.md (bench/scale_report.py), which `make bench` keeps.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import proc

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "scale"
RESULTS = ROOT / "docs" / "benchmarks" / "scale.json"
SYMBOLS = [f"S{i:02d}USDT" for i in range(20)]
MEAN_GAP_S = 2.0
END = "2026-11-30T00:00:00Z"
PREPARE = """
import sys, time
from pathlib import Path
from train.data.load import read_records
from train.data.dataset import build_dataset
from train.labels.labeler import LabelParams
from modelformat.defaults import DEFAULT_FEATURES
t = time.perf_counter()
recs = read_records(Path(sys.argv[1]), list(DEFAULT_FEATURES))
t_read = time.perf_counter() - t
ds = build_dataset(recs, list(DEFAULT_FEATURES), LabelParams(), 0.0)
print(f"{t_read:.2f} {time.perf_counter() - t:.2f} {ds.rows['train']} {ds.train.X.dtype}")
"""


def measure(argv: list[str], cap_s: float, log_path: Path) -> dict[str, Any]:
    """Run argv niced; wall time, summed-tree peak RSS and its curve; killed at cap_s."""
    import psutil

    log.info("run: %s", " ".join(argv))
    t0 = time.perf_counter()
    with open(log_path, "w") as err:
        p = subprocess.Popen(
            ["nice", "-n", "5", *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
            start_new_session=True,
        )  # fmt: skip
        root = psutil.Process(p.pid)
        curve: list[tuple[float, float]] = []
        timed_out = False
        while p.poll() is None:
            try:
                procs = [root, *root.children(recursive=True)]
                rss = sum(q.memory_info().rss for q in procs if q.is_running())
            except psutil.Error:
                rss = 0
            curve.append((round(time.perf_counter() - t0, 1), round(rss / 2**20)))
            if time.perf_counter() - t0 > cap_s:
                timed_out = True
                os.killpg(p.pid, 9)
                break
            time.sleep(0.5)
        out = p.communicate()[0]
    step = max(1, len(curve) // 120)
    return {
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": max((r for _, r in curve), default=0),
        "curve": curve[::step],
        "returncode": None if timed_out else p.returncode,
        "timed_out": timed_out,
        "stdout": out.strip().splitlines()[-1:] if out else [],
        "log": str(log_path.relative_to(ROOT)),
    }


def bins() -> Path:
    b = WORK / "bin"
    b.mkdir(parents=True, exist_ok=True)
    for cmd in ("gendb", "export"):
        subprocess.run(
            ["go", "build", "-o", str(b / cmd), f"./cmd/{cmd}"], cwd=ROOT / "go", check=True
        )
    return b


def database(rows: int, b: Path) -> Path:
    db = WORK / f"bot{rows}.db"
    if not db.exists():
        hours = rows / len(SYMBOLS) * MEAN_GAP_S / 3600
        subprocess.run(
            ["nice", str(b / "gendb"), "-db", str(db), "-symbols", ",".join(SYMBOLS), "-hours",
             f"{hours:.3f}", "-mean-gap", str(MEAN_GAP_S), "-end", END, "-batch", "10000"],
            check=True,
        )  # fmt: skip
    return db


def replicate(src: Path, copies: int, dst: Path) -> Path:
    """dst/: copies of src with the symbols renamed, one file per copy."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if dst.is_dir() and len(list(dst.glob("*.parquet"))) == copies:
        return dst
    dst.mkdir(parents=True, exist_ok=True)
    f = pq.ParquetFile(src)
    for k in range(copies):
        with pq.ParquetWriter(dst / f"copy-{k}.parquet", f.schema_arrow, compression="zstd") as w:
            for batch in f.iter_batches(batch_size=1 << 20):
                t = pa.Table.from_batches([batch])
                sym = pc.binary_join_element_wise(pc.cast(t["symbol"], pa.string()), f"_{k}", "")
                w.write_table(
                    t.set_column(0, t.schema.field(0), pc.cast(sym, t.schema.field(0).type))
                )
    return dst


def data_paths(rows: int, b: Path, cap_s: float, results: dict[str, Any]) -> dict[str, Path]:
    if rows > 10_000_000:
        base = data_paths(10_000_000, b, cap_s, results)
        return {"parquet": replicate(base["parquet"], rows // 10_000_000, WORK / f"p{rows}")}
    db = database(rows, b)
    out = {}
    for fmt in ("jsonl", "parquet"):
        path = WORK / f"f{rows}.{fmt}"
        key = f"export/{rows}/{fmt}"
        if not path.exists() or key not in results:
            r = measure([str(b / "export"), "-db", str(db), "-output", str(path)], cap_s,
                        WORK / f"export-{rows}-{fmt}.log")  # fmt: skip
            r["bytes"] = path.stat().st_size if path.exists() else None
            results[key] = {"kind": "export", "rows": rows, "format": fmt, **r}
            _save({key: results[key]})
        out[fmt] = path
    return out


def fit_argv(path: Path, engine: str, model: str, out: Path) -> list[str]:
    argv = [proc.python(), "-m", "train", "fit", "--data", str(path), "--out", str(out), "--model",
            model, "--no-report", "--engine", engine]  # fmt: skip
    return argv


def auc_of(out: Path) -> float | None:
    ms = sorted(out.glob("*/manifest.json"))
    return json.loads(ms[-1].read_text())["metrics"]["test"]["auc"] if ms else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="1e6,1e7,5e7")
    ap.add_argument("--only", default="export,prepare,fit")
    ap.add_argument("--formats", default="jsonl,parquet", help="inputs for prepare and fit")
    ap.add_argument("--fits", default="jsonl:local:hgb,parquet:local:hgb,parquet:dask:xgb",
                    help="format:engine:model, comma-separated")  # fmt: skip
    ap.add_argument("--cap-s", type=float, default=1800.0, help="time cap of one run")
    ap.add_argument("--report", action="store_true", help="only re-render docs/BENCHMARKS.md")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench %(message)s")
    from bench import scale_report

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if a.report:
        _save({})
    else:
        WORK.mkdir(parents=True, exist_ok=True)
        b = bins()
        steps = a.only.split(",")
        for rows in (int(float(r)) for r in a.rows.split(",")):
            paths = data_paths(rows, b, a.cap_s, results)
            paths = {k: v for k, v in paths.items() if k in a.formats.split(",")}
            if "prepare" in steps:
                for fmt, path in paths.items():
                    r = measure([proc.python(), "-c", PREPARE, str(path)], a.cap_s,
                                WORK / f"prepare-{rows}-{fmt}.log")  # fmt: skip
                    key = f"prepare/{rows}/{fmt}"
                    results[key] = {"kind": "prepare", "rows": rows, "format": fmt, **r}
                    _save({key: results[key]})
            if "fit" in steps:
                for spec in a.fits.split(","):
                    fmt, engine, model = spec.split(":")
                    if fmt not in paths:
                        continue
                    out = WORK / "models" / f"{rows}-{fmt}-{engine}-{model}"
                    r = measure(fit_argv(paths[fmt], engine, model, out), a.cap_s,
                                WORK / f"fit-{rows}-{fmt}-{engine}-{model}.log")  # fmt: skip
                    r["auc"] = auc_of(out)
                    key = f"fit/{rows}/{spec}"
                    results[key] = {"kind": "fit", "rows": rows, "format": fmt,
                                    "engine": engine, "model": model, **r}  # fmt: skip
                    _save({key: results[key]})
    results = json.loads(RESULTS.read_text())
    scale_report.plot(results, RESULTS.parent / "scale_rss.png")
    scale_report.splice(ROOT / "docs" / "BENCHMARKS.md", results)
    return 0


def _save(results: dict[str, Any]) -> None:
    """Merge into the stored results (another run may have added its own meanwhile)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored.update(results)
    tmp = RESULTS.with_suffix(".tmp")
    # Paths inside the checkout are stored relative to it: the file is committed.
    text = json.dumps(stored, indent=1, sort_keys=True).replace(f"{ROOT}/", "")
    text = re.sub(r"\[\s+([-\d.]+),\s+([-\d.]+)\s+\]", r"[\1, \2]", text)  # a curve point a line
    tmp.write_text(text + "\n")
    tmp.replace(RESULTS)


if __name__ == "__main__":
    sys.exit(main())
