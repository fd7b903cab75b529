"""data.provenance: simulated data marks itself, and the manifest says so."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.train.conftest import manifest
from train.cli import main
from train.data.provenance import detect


def test_a_model_fitted_on_train_sample_data_is_marked_simulated(planted_model: Path) -> None:
    data = manifest(planted_model)["data"]
    assert data["provenance"] == "simulated"
    assert data["simulated_records"] == 20000
    assert len(data["sha256"]) == 64 and data["source"].endswith("planted.jsonl")


def test_records_without_the_marker_are_exported(small_data: Path, tmp_path: Path) -> None:
    lines = small_data.read_text().splitlines()
    real = tmp_path / "real.jsonl"
    recs = [json.loads(line) for line in lines]
    for r in recs:
        del r["simulated"]
    real.write_text("".join(json.dumps(r) + "\n" for r in recs))
    assert detect(real) == {"provenance": "exported", "simulated_records": 0}
    # One made-up record (blanks around the colon too) makes the whole file simulated.
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(real.read_text() + lines[0].replace('"simulated":true', '"simulated" : true'))
    assert detect(mixed) == {"provenance": "simulated", "simulated_records": 1}


def test_parquet_marker_and_its_absence(tmp_path: Path) -> None:
    sim = tmp_path / "sim.parquet"
    assert main(["sample", "--out", str(sim), "--rows", "500", "--seed", "1"]) == 0
    assert detect(sim) == {"provenance": "simulated", "simulated_records": 500}
    real = tmp_path / "real.parquet"
    pq.write_table(pq.read_table(sim).drop(["simulated"]), real)
    assert detect(real)["provenance"] == "exported"
    false_col = tmp_path / "false.parquet"
    t = pq.read_table(sim)
    t = t.set_column(t.schema.get_field_index("simulated"), "simulated", pa.array([False] * 500))
    pq.write_table(t, false_col)
    assert detect(false_col) == {"provenance": "exported", "simulated_records": 0}
