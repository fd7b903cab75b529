"""Decision latency/throughput, reload and sidecar figures, measured by gatebench.

gatebench (go/bench/cmd/gatebench) is the Go client; this module builds it and the
echo floor, starts the HTTP+JSON service it is compared with, runs it once for
every target and returns its JSON report.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import compare, proc
from bench.budget import Budget

log = logging.getLogger("bench")


def build_go(root: Path, bindir: Path) -> dict[str, Path]:
    bindir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("gatebench", "pipeecho"):
        path = bindir / name
        subprocess.run(
            ["go", "build", "-o", str(path), f"./cmd/{name}"],
            cwd=root / "go" / "bench",
            check=True,
        )
        out[name] = path
    return out


class HTTPService:
    """The HTTP+JSON alternative (bench/http_service.py), on 127.0.0.1 only."""

    def __init__(self, root: Path, model: Path, log_path: Path) -> None:
        self._log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [proc.python(), "-m", "bench.http_service", "--model", str(model)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"bench/http_service.py did not start (see {log_path})")
        self.url = line

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def run(
    root: Path,
    work: Path,
    budget: Budget,
    model: Path,
    reload: tuple[Path, Path, Path] | None,
    targets: list[str],
) -> dict[str, Any]:
    bins = build_go(root, work / "bin")
    logdir = work / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    out = work / "gatebench.json"
    argv = [
        str(bins["gatebench"]),
        "-root", str(root),
        "-python", proc.python(),
        "-model", str(model),
        "-echo", str(bins["pipeecho"]),
        "-ort-lib", proc.ort_library(),
        "-logdir", str(logdir),
        "-out", str(out),
        "-targets", ",".join(targets),
        "-concurrency", ",".join(map(str, budget.concurrency)),
        "-warmup", f"{budget.warmup_s}s",
        "-duration", f"{budget.duration_s}s",
        "-ref-calls", ",".join(f"{g}:{n}" for g, n in budget.ref_calls.items()),
        "-startup-runs", str(budget.startup_runs),
    ]  # fmt: skip
    if reload:
        a, b, link = reload
        argv += ["-reload-link", str(link), "-reload-a", str(a), "-reload-b", str(b)]
        argv += ["-reloads", str(budget.reloads)]
        argv += ["-reload-concurrency", str(budget.reload_concurrency)]
    http = None
    if "http" in targets:
        http = HTTPService(root, model, logdir / "http_service.log")
        argv += ["-http", http.url, "-http-pid", str(http.proc.pid)]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(argv, cwd=root, stdout=subprocess.DEVNULL, check=False)
    finally:
        if http:
            http.stop()
    log.info("gatebench took %.0f s (exit %d)", time.perf_counter() - t0, r.returncode)
    if r.returncode != 0:
        raise RuntimeError(f"gatebench exited {r.returncode}")
    report: dict[str, Any] = json.loads(out.read_text())
    report["comparison"] = compare.run(root, work, budget, model, bins["gatebench"])
    return report
