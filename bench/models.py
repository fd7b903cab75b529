"""Model directories for the benchmarks, built on the fly under build/bench/."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bench import proc

log = logging.getLogger("bench")


def tiny(root: Path, out: Path, version: str, seed: int = 0) -> Path:
    """A small real model from the infer engineer's fixture (seconds to build)."""
    r = proc.run(
        [
            proc.python(),
            "tests/fixtures/tiny_model.py",
            "--out",
            str(out),
            "--version",
            version,
            "--seed",
            str(seed),
        ],
        cwd=root,
        timeout_s=120,
        log_path=out.parent / f"tiny-{version}.log",
    )
    if r.returncode != 0:
        raise RuntimeError(
            f"tests/fixtures/tiny_model.py failed for {version} (exit {r.returncode})"
        )
    return Path(r.stdout.strip().splitlines()[-1])


def point(link: Path, target: Path) -> None:
    """Atomically (re)point a symlink, as a deploy does: new link, then rename."""
    tmp = link.with_name(f".{link.name}.{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)


def reload_pair(root: Path, work: Path) -> tuple[Path, Path, Path]:
    """Two model versions and a `current` symlink for the reload benchmark."""
    out = work / "reload-models"
    a = tiny(root, out, "reload-a", seed=1)
    b = tiny(root, out, "reload-b", seed=2)
    link = out / "current"
    point(link, a)
    return a, b, link
