"""The family table behind `train fit`'s default (`make bench-scale`, `pytest -m
bench_scale`): bench/families.py at 10^5 and 10^6 sample rows. gbm alone takes
several minutes at 10^5 on 2 cores, far past `make bench`'s per-suite cap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import families
from train.model.families import DEFAULT

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.bench_scale
def test_family_table_and_the_default_against_one_early_stopped_lightgbm(capsys) -> None:
    work = ROOT / "build" / "bench"
    assert families.main(["--rows", "100000", "1000000", "--work", str(work)]) == 0
    print(capsys.readouterr().out)  # the table, quoted by `make bench`
    rows = json.loads((work / "families.json").read_text())
    for n in (100_000, 1_000_000):
        got = {r["family"]: r for r in rows if r["rows"] == n}
        assert all(r["status"].startswith("ok") for r in got.values()), got
        ref = next(r for f, r in got.items() if f.startswith("lgbm early-stopped"))
        d = got[DEFAULT]
        # The default must not give up ranking or calibration for its speed.
        assert d["auc"] >= ref["auc"] - 0.01 and d["ece"] <= 0.03, (d, ref)
    # Target: at 10^6 rows, within 5x one early-stopped LightGBM fit's wall time.
    big = {r["family"]: r for r in rows if r["rows"] == 1_000_000}
    ref = next(r for f, r in big.items() if f.startswith("lgbm early-stopped"))
    assert big[DEFAULT]["wall_s"] <= 5 * ref["wall_s"], (big[DEFAULT], ref)
