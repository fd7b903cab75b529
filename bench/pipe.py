"""Runs the Python-client pipe benchmark, bench/sidecar_pipe.py, as its own
program, exactly as one would by hand; what it prints is kept verbatim (and
parsed when it is JSON).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from bench import proc


def run(root: Path, work: Path, model: Path, timeout_s: float, quick: bool) -> dict[str, Any]:
    argv = [proc.python(), "-m", "bench.sidecar_pipe", "--model", str(model)]
    if quick:
        argv.append("--quick")
    echo = work / "bin" / "pipeecho"  # built by the decisions part, when it ran
    if echo.exists():
        argv += ["--echo", str(echo)]
    r = proc.run(argv, root, timeout_s, log_path=work / "logs" / "sidecar_pipe.log")
    if r.returncode != 0:
        why = f"timed out after {timeout_s:.0f} s" if r.timed_out else f"exit {r.returncode}"
        return {"skipped": f"`{' '.join(argv[1:])}` {why} (see build/bench/logs/sidecar_pipe.log)"}
    shown = [a.replace(f"{root}/", "") for a in argv[1:]]  # the page names repo paths
    out: dict[str, Any] = {"argv": shown, "result": r.stdout, "wall_s": r.wall_s}
    with contextlib.suppress(ValueError):
        out["json"] = json.loads(r.stdout)
    return out
