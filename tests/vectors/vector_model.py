"""The model the vectors run on (tests/vectors/model/): where it lives and how it is rebuilt."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_DIR = HERE / "model"
VERSION = "vectors-1"


def rebuild_model() -> None:
    from tests.fixtures.tiny_model import build_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        built = build_model_dir(tmp, VERSION, seed=42, fp16=False, n_estimators=6)
        shutil.rmtree(MODEL_DIR, ignore_errors=True)
        shutil.copytree(built, MODEL_DIR)
