"""What the benchmarks ran on: CPU, cores, memory, kernel, load and versions."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

PY_PACKAGES = ("onnxruntime", "numpy", "msgpack", "scikit-learn", "skl2onnx", "onnx", "matplotlib")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def _run(argv: list[str], cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=30, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return f"unavailable ({e.__class__.__name__})"


def describe(root: Path) -> dict[str, Any]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for pkg in PY_PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    versions["go"] = _run(["go", "env", "GOVERSION"])
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(mem_total_gib(), 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "loadavg_at_start": list(os.getloadavg()),
        "versions": versions,
        "git_commit": _run(["git", "rev-parse", "--short", "HEAD"], cwd=root),
        "git_dirty": bool(_run(["git", "status", "--porcelain"], cwd=root)),
    }
