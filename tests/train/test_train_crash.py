"""An unexpected exception in `python -m train` (or the `train` script) exits 4 with
its traceback: not 1, which `fit` gives a failed quality gate, nor 3, which `monitor`
and `compare` give a verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import train.__main__
import train.publish.run
from train.cli import EXIT_CRASH


def test_a_crash_exits_4_with_its_traceback(tmp_path: Path, monkeypatch, capsys) -> None:
    def boom(args):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(train.publish.run, "run_fit", boom)
    data = tmp_path / "s.jsonl"
    monkeypatch.setattr(sys, "argv", ["train", "fit", "--data", str(data), "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        train.__main__.main()
    assert e.value.code == EXIT_CRASH == 4
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: worker lost" in err
    assert "train: crashed (RuntimeError: worker lost)" in err


def test_results_keep_their_exit_codes(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["train", "fit", "--data", str(tmp_path / "none.jsonl"),
                                      "--out", str(tmp_path)])  # fmt: skip
    with pytest.raises(SystemExit) as e:
        train.__main__.main()
    assert e.value.code == 2 and "no such file" in capsys.readouterr().err
