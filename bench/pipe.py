"""Fold in the infer engineer's Python-client pipe benchmark, bench/sidecar_pipe.py.

It is called as a program, never copied: whatever it prints is kept verbatim
(and parsed when it is JSON).
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from bench import proc

log = logging.getLogger("bench")


def run(root: Path, work: Path, model: Path, timeout_s: float, quick: bool) -> dict[str, Any]:
    script = root / "bench" / "sidecar_pipe.py"
    if not script.exists():
        return {"skipped": "bench/sidecar_pipe.py does not exist yet"}
    helptext = proc.run([proc.python(), "-m", "bench.sidecar_pipe", "--help"], root, 60).stdout
    argv = [proc.python(), "-m", "bench.sidecar_pipe"]
    echo = work / "bin" / "pipeecho"  # built by the decisions part, when it ran
    flags = [("--model", str(model)), ("--quick", None)]
    if echo.exists():
        flags.append(("--echo", str(echo)))
    for flag, value in flags:
        if flag in helptext and (value is not None or quick):
            argv += [flag] + ([value] if value is not None else [])
    r = proc.run(argv, root, timeout_s, log_path=work / "logs" / "sidecar_pipe.log")
    if r.returncode != 0:
        why = f"timed out after {timeout_s:.0f} s" if r.timed_out else f"exit {r.returncode}"
        return {"skipped": f"`{' '.join(argv[1:])}` {why} (see build/bench/logs/sidecar_pipe.log)"}
    shown = [a.replace(f"{root}/", "") for a in argv[1:]]  # the page names repo paths
    out: dict[str, Any] = {"argv": shown, "result": r.stdout, "wall_s": r.wall_s}
    with contextlib.suppress(ValueError):
        out["json"] = json.loads(r.stdout)
    return out
