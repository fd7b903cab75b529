"""The read loop of bench/sidecar_pipe.py's client, the part that benchmark
times: a child on a pair of pipes (spawned, encoded for and closed by
infer.client, the project's one msgpack-rpc client), read in one of two
disciplines (spinning like the Go predictor, or blocking in read(2) like most
clients)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from infer.client import Client

# How long a spinning client's read polls before it blocks: the Go predictor's DefaultReadSpin.
READ_SPIN_NS = 50_000


class Pipe:
    """A child process on a pair of pipes, with the benchmark's own reader."""

    def __init__(self, argv: list[str], cwd: Path, blocking: bool = False) -> None:
        self.client = Client.spawn(argv, cwd=cwd, stderr=subprocess.DEVNULL)
        assert self.client.proc is not None
        self.proc = self.client.proc
        self.w = self.client.write_fd
        self.r = self.client.read_fd
        # A blocking client sleeps in read(2) until the answer is there, as most
        # clients do (a plain Python or Go reader); the other one spins first.
        self.blocking = blocking
        os.set_blocking(self.r, blocking)
        # Not infer.client's decoding: this reader returns each message in
        # arrival order and keeps nothing, so the timed loop pays only for the read.
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

    def round_trips(self, requests: list[bytes], n: int) -> np.ndarray:
        """n round trips, sending requests in turn; each one's time in ns."""
        w, nxt, clock = self.w, self.next, time.perf_counter_ns
        out = np.empty(n, dtype=np.int64)
        k = len(requests)
        for i in range(n):
            request = requests[i % k]
            t0 = clock()
            os.write(w, request)
            nxt()
            out[i] = clock() - t0
        return out

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        """EOF on the child's stdin; its stdout is read to EOF and the child reaped."""
        os.set_blocking(self.r, True)
        try:
            self.client.close(timeout=10)
        except (TimeoutError, subprocess.TimeoutExpired):
            self.client.kill()
