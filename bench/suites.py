"""The other teams' benchmarks, run as they are and quoted verbatim: Go
`Benchmark*` functions (`go test -bench`) and pytest tests marked `bench`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bench import proc

log = logging.getLogger("bench")


def run(root: Path, work: Path, benchtime: str, timeout_s: float) -> list[dict[str, Any]]:
    env = {**os.environ, "SIGMAGATE_ROOT": str(root), "SIGMAGATE_PYTHON": proc.python()}
    # -p 1: one package's benchmarks at a time, or two test binaries share the two cores.
    go_bench = ["go", "test", "-p", "1", "-run", "^$", "-bench", "."]
    go_bench += ["-benchtime", benchtime, "./..."]
    suites = [
        (
            "go test -bench",
            go_bench,
            root / "go",
        ),
        ("pytest -m bench", [proc.python(), "-m", "pytest", "-q", "-m", "bench"], root),
    ]
    out = []
    for name, argv, cwd in suites:
        logp = work / "logs" / f"suite-{name.split()[0]}.log"
        r = proc.run(argv, cwd, timeout_s, log_path=logp, env=env)
        if r.timed_out:
            status = f"stopped at its {timeout_s:.0f} s cap"
        elif r.returncode == 5 and "pytest" in name:
            status = "no test is marked bench"
        elif r.returncode != 0:
            status = f"exit {r.returncode} (see {logp.relative_to(root)})"
        else:
            status = "ok"
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        out.append({"suite": name, "status": status, "wall_s": r.wall_s, "output": lines})
        log.info("%s: %s in %.0f s", name, status, r.wall_s)
    return out
