"""Running child processes with a time cap, their wall time and peak memory, and which
Python and onnxruntime library they run."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("bench")


@dataclass
class Run:
    argv: list[str]
    returncode: int | None  # None: killed at the time cap
    wall_s: float
    max_rss_kib: int  # peak resident memory of the child and its waited-for descendants
    stdout: str
    timed_out: bool


def run(
    argv: list[str], cwd: Path, timeout_s: float, log_path: Path | None = None, env=None
) -> Run:
    """Run argv to completion or until timeout_s, then kill its process group.

    Peak memory comes from wait4()'s rusage for this one child, so concurrent
    or earlier children do not pollute it (unlike RUSAGE_CHILDREN).
    """
    log.info("run: %s", " ".join(map(str, argv)))
    err = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,
            env=env,
        )
        out_chunks: list[str] = []
        reader = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()))
        reader.start()
        timed_out = False
        deadline = t0 + timeout_s
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
        reader.join()
    finally:
        if log_path:
            err.close()
    rc = None if timed_out else proc.returncode
    if rc not in (0, None):
        log.warning("exit %s: %s (log: %s)", rc, argv[:4], log_path)
    return Run(argv, rc, wall, usage.ru_maxrss, "".join(out_chunks), timed_out)


def python() -> str:
    return os.environ.get("SIGMAGATE_PYTHON") or sys.executable


def ort_library() -> str:
    """libonnxruntime.so from the onnxruntime wheel the sidecar's Python imports (the
    same build serves both sides of the in-process comparison); empty if there is none."""
    r = subprocess.run(
        [python(), "-c", "import onnxruntime, pathlib; d = pathlib.Path(onnxruntime.__file__)"
         ".parent / 'capi'; print(*sorted(d.glob('libonnxruntime.so*')), sep='\\n')"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    libs = r.stdout.split()
    return libs[0] if libs else ""
