"""Shared artefacts: sample data and one fitted model directory, built once per run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.shared import built_once
from train.cli import main


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def planted_data(tmp_path_factory) -> Path:
    def build(d: Path) -> None:
        assert (
            main(["sample", "--out", str(d / "planted.jsonl"), "--rows", "20000", "--seed", "7"])
            == 0
        )

    return built_once(tmp_path_factory, "planted-data", build) / "planted.jsonl"


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """Enough for three splits and a quick fit; for tests of plumbing, not of skill."""

    def build(d: Path) -> None:
        assert (
            main(["sample", "--out", str(d / "small.jsonl"), "--rows", "6000", "--seed", "11"]) == 0
        )

    return built_once(tmp_path_factory, "small-data", build) / "small.jsonl"


@pytest.fixture(scope="session")
def planted_model(planted_data, tmp_path_factory) -> Path:
    """The demo's path: sample 20k rows + fit the default family, --search fast."""

    def build(out: Path) -> None:
        assert (
            main(["fit", "--data", str(planted_data), "--out", str(out), "--search", "fast"]) == 0
        )

    out = built_once(tmp_path_factory, "planted-model", build)
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1
    return dirs[0]


def manifest(d: Path) -> dict:
    return json.loads((d / "manifest.json").read_text())
