"""Idle CPU: what a bot that makes few decisions pays for the predictor and the
sidecar with default settings (go/bench/cmd/idlecpu), run as its own program.

    build/bench/bin/idlecpu -model DIR -idle 30s -paced 30s -rate 10

Its JSON is kept under `idle_cpu` in results.json and rendered by
bench/report_idle.py.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench import proc


def run(root: Path, work: Path, model: Path, quick: bool, timeout_s: float) -> dict[str, Any]:
    binary = work / "bin" / "idlecpu"
    binary.parent.mkdir(parents=True, exist_ok=True)
    built = subprocess.run(
        ["go", "build", "-o", str(binary), "./cmd/idlecpu"],
        cwd=root / "go" / "bench",
        capture_output=True,
        text=True,
    )
    if built.returncode != 0:
        return {"skipped": f"go build ./cmd/idlecpu failed: {built.stderr.strip()[-300:]}"}
    phase = "5s" if quick else "30s"
    argv = [str(binary), "-model", str(model), "-idle", phase, "-paced", phase, "-rate", "10"]
    r = proc.run(argv, root, timeout_s, log_path=work / "logs" / "idle_cpu.log")
    if r.returncode != 0:
        why = f"timed out after {timeout_s:.0f} s" if r.timed_out else f"exit {r.returncode}"
        return {"skipped": f"idlecpu {why} (see build/bench/logs/idle_cpu.log)"}
    try:
        out: dict[str, Any] = json.loads(r.stdout)
    except ValueError:
        return {"skipped": f"idlecpu printed no JSON: {r.stdout[:200]!r}"}
    out["argv"] = [a.replace(f"{root}/", "") for a in argv]
    return out
