"""Fixtures for the deploy-script tests: a models directory with real fixture models,
a real `infer` sidecar serving models/current, and a runner for the real script."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.tiny_model import build_model_dir
from tests.infer.sidecar import python

ROOT = Path(__file__).resolve().parents[2]
PYTHON = python()
DEPLOY = ROOT / "scripts" / "deploy_model.sh"


class ModelCache:
    """Fixture models built once per session (fitting and converting is the slow part);
    each test gets its own copy."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[tuple[Any, ...], Path] = {}

    def copy(self, dest_parent: Path, version: str, seed: int, **kw: Any) -> Path:
        key = (version, seed, *sorted(kw.items()))
        if key not in self.built:
            self.built[key] = build_model_dir(self.root / str(len(self.built)), version, seed, **kw)
        dest = dest_parent / version
        shutil.copytree(self.built[key], dest)
        os.utime(dest)  # pruning goes by directory age: a copy is as new as a fresh build
        return dest


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(tmp_path_factory.mktemp("fixture-models"))


@dataclass
class Env:
    models: Path
    run: Path
    logs: Path
    cache: ModelCache
    tmp: Path

    @property
    def pidfile(self) -> Path:
        return self.run / "infer.pid"

    @property
    def status_file(self) -> Path:
        return self.run / "infer.status.json"

    def current(self) -> str | None:
        link = self.models / "current"
        return os.readlink(link) if link.is_symlink() else None

    def status(self) -> dict[str, Any]:
        return json.loads(self.status_file.read_text())

    def model(self, version: str, seed: int = 0, **kw: Any) -> Path:
        """A real fixture model outside the models directory (as a CI artifact is)."""
        parent = self.models.parent / "incoming"
        parent.mkdir(exist_ok=True)
        return self.cache.copy(parent, version, seed, **kw)

    def argv(self, *args: str) -> list[str]:
        argv = ["bash", str(DEPLOY), "--models-dir", str(self.models), "--pidfile"]
        argv += [str(self.pidfile), "--status-file", str(self.status_file)]
        return [*argv, "--log-dir", str(self.logs), "--reload-timeout", "15", *args]

    def environ(self, **extra: str) -> dict[str, str]:
        # A private TMPDIR: a test can count the scratch directories a deploy leaves.
        return (
            dict(
                os.environ, SIGMAGATE_PYTHON=PYTHON, SIGMAGATE_ROOT=str(ROOT), TMPDIR=str(self.tmp)
            )
            | extra
        )

    def deploy(
        self, *args: str, timeout: float = 120, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, env=self.environ(**extra_env),
            timeout=timeout, cwd=ROOT,
        )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, model_cache: ModelCache) -> Env:
    e = Env(tmp_path / "models", tmp_path / "run", tmp_path / "logs", model_cache, tmp_path / "tmp")
    for d in (e.models, e.run, e.logs, e.tmp):
        d.mkdir()
    return e


class Sidecar:
    def __init__(self, env: Env) -> None:
        self.env = env
        self.stderr = (env.run / "infer.stderr").open("wb")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "infer", "--model", str(env.models / "current"),
             "--pidfile", str(env.pidfile), "--status-file", str(env.status_file)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.stderr, cwd=ROOT,
        )  # fmt: skip

    def wait_version(self, version: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"sidecar exited: {self.log()}"
            try:
                status = self.env.status()
                if status.get("version") == version and self.env.pidfile.exists():
                    return status
            except (OSError, json.JSONDecodeError):
                pass
            time.sleep(0.05)
        raise AssertionError(f"sidecar never reported {version}: {self.log()}")

    def log(self) -> str:
        return (self.env.run / "infer.stderr").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()


@pytest.fixture
def serving(env: Env) -> Iterator[tuple[Sidecar, str]]:
    """Version A deployed to models/current and served by a real sidecar."""
    a = env.model("model-a", seed=1)
    res = env.deploy("--from", str(a), "--min-auc", "none", "--no-restart")
    assert res.returncode == 0, res.stderr
    sidecar = Sidecar(env)
    sidecar.wait_version("model-a")
    yield sidecar, "model-a"
    sidecar.stop()


def tree(path: Path) -> dict[str, str]:
    """Every entry under path: symlink targets and file hashes (the byte-identity check)."""
    out: dict[str, str] = {}
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        if p.is_symlink():
            out[rel] = "-> " + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out
