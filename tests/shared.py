"""Artefacts built once per test run, however many pytest-xdist workers share it.

A session fixture runs once per worker process; training a model is the slow part of
the suite, so fixtures that train build into a directory under the run's common base
temp dir, behind a file lock, and every worker reuses what the first one built.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The directory `name`, filled by build(dir) in exactly one worker of this run."""
    base = factory.getbasetemp()
    # Under xdist each worker's base temp is <run base>/popen-gwN: share the run's base.
    shared = base.parent if base.name.startswith("popen-gw") else base
    target = shared / "shared" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    done = target / ".built"
    with FileLock(str(target) + ".lock"):
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)  # a half-built one from a failed build
            target.mkdir()
            build(target)
            done.touch()
    return target
