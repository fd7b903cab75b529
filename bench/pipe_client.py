"""The Python client of bench/sidecar_pipe.py: a child process on a pair of
pipes, read in one of two disciplines (spinning like the Go predictor, or
blocking in read(2) like most clients)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

# How long a spinning client's read polls before it blocks: the Go predictor's DefaultReadSpin.
READ_SPIN_NS = 50_000


class Pipe:
    """A child process on a pair of pipes, with a msgpack reader."""

    def __init__(self, argv: list[str], cwd: Path, blocking: bool = False) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=cwd
        )
        assert self.proc.stdin and self.proc.stdout
        self.w = self.proc.stdin.fileno()
        self.r = self.proc.stdout.fileno()
        # A blocking client sleeps in read(2) until the answer is there, as most
        # clients do (a plain Python or Go reader); the other one spins first.
        self.blocking = blocking
        os.set_blocking(self.r, blocking)
        self.unpacker = msgpack.Unpacker(raw=False)

    def read_some(self, size: int = 1 << 16) -> bytes:
        """Up to size bytes; unless blocking, polls the pipe for up to READ_SPIN_NS first."""
        r, clock = self.r, time.perf_counter_ns
        if self.blocking:
            return os.read(r, size)
        end = 0
        while True:
            try:
                return os.read(r, size)
            except BlockingIOError:
                pass
            now = clock()
            if not end:
                end = now + READ_SPIN_NS
            elif now > end:
                select.select([r], [], [])
            # Let anything else runnable on this core (the child itself, on a
            # busy host) run meanwhile, as the sidecar's own spin does.
            os.sched_yield()

    def next(self) -> Any:
        u = self.unpacker
        while True:
            for obj in u:
                return obj
            data = self.read_some()
            if not data:
                raise EOFError("child closed stdout")
            u.feed(data)

    def round_trips(self, request: bytes, n: int) -> np.ndarray:
        w, nxt, clock = self.w, self.next, time.perf_counter_ns
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            t0 = clock()
            os.write(w, request)
            nxt()
            out[i] = clock() - t0
        return out

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        assert self.proc.stdout
        self.proc.stdout.close()
