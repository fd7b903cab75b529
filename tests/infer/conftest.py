"""Real model directories for the sidecar tests, built once per session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import build_model_dir
from tests.infer.sidecar import Sidecar


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models/ with tiny-a (seed 0) and tiny-b (seed 1); `current` points at tiny-a."""
    root = tmp_path_factory.mktemp("models")
    build_model_dir(root, "tiny-b", seed=1)
    build_model_dir(root, "tiny-a", seed=0, link_current=True)
    return root


@pytest.fixture(scope="session")
def model_a(models: Path) -> Path:
    return models / "tiny-a"


@pytest.fixture(scope="session")
def model_b(models: Path) -> Path:
    return models / "tiny-b"


@pytest.fixture
def sidecar(model_a: Path) -> Iterator[Sidecar]:
    with Sidecar(model_a) as sc:
        sc.ready()
        yield sc
