"""Outcome monitor benchmark (`pytest -m bench`, excluded from `make test`): `train monitor`
on 10⁶ records must take under 60 s on the project's 2-core machine."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from train.cli import main


@pytest.mark.bench
def test_bench_monitor_10e6_records_under_60s(tmp_path: Path, capsys) -> None:
    train = tmp_path / "train.parquet"
    assert main(["sample", "--out", str(train), "--rows", "40000", "--seed", "1"]) == 0
    out = tmp_path / "models"
    fit = ["fit", "--data", str(train), "--out", str(out), "--cv-folds", "2", "--tune-rows", "8000"]
    assert main(fit) == 0
    (model,) = out.iterdir()
    window = tmp_path / "window.parquet"
    assert main(["sample", "--out", str(window), "--rows", "1000000", "--seed", "2"]) == 0
    capsys.readouterr()

    t0 = time.perf_counter()
    code = main(["monitor", "--model", str(model), "--data", str(window)])
    dt = time.perf_counter() - t0
    out_text = capsys.readouterr().out

    # The window is a fresh draw of the market the model was trained on: a healthy verdict.
    assert code == 0, out_text
    with capsys.disabled():
        print(f"\ntrain monitor: 1,000,000 records in {dt:.1f} s (exit {code})")
    assert dt < 60.0
