"""Shared, module-scoped artefacts: sample data and one fitted model directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def planted_data(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("data") / "planted.jsonl"
    assert main(["sample", "--out", str(p), "--rows", "20000", "--seed", "7"]) == 0
    return p


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """Enough for three splits and a quick fit; for tests of plumbing, not of skill."""
    p = tmp_path_factory.mktemp("data") / "small.jsonl"
    assert main(["sample", "--out", str(p), "--rows", "6000", "--seed", "11"]) == 0
    return p


@pytest.fixture(scope="session")
def planted_model(planted_data, tmp_path_factory) -> Path:
    """The demo's path: sample 20k rows + fit the default family, --search fast."""
    out = tmp_path_factory.mktemp("models")
    assert main(["fit", "--data", str(planted_data), "--out", str(out), "--search", "fast"]) == 0
    dirs = [d for d in out.iterdir()]
    assert len(dirs) == 1
    return dirs[0]


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())
