"""Raw stdin/stdout I/O for the serving loop: spin-then-block reads, whole writes.

Why spin: a blocked reader costs a scheduler wake-up (tens of microseconds
here) on every request. After each batch the loop polls a non-blocking stdin
for `spin_s` before it blocks, so a client that answers quickly finds the
sidecar already running. The price is CPU: up to `spin_s` of one core after
every batch, nothing when idle for longer.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import stat
import time
from collections.abc import Callable

READ_CHUNK = 1 << 18


class Stdio:
    def __init__(self, in_fd: int, out_fd: int, spin_s: float) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.spin_s = spin_s
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        # Only pipes and sockets are made non-blocking: O_NONBLOCK on a terminal
        # would leak into the shell that shares it.
        mode = os.fstat(in_fd).st_mode
        self._in_flags = fcntl.fcntl(in_fd, fcntl.F_GETFL)
        self.nonblocking = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        if self.nonblocking:
            os.set_blocking(in_fd, False)
        self._poll = select.poll()
        self._poll.register(in_fd, select.POLLIN)
        self._poll.register(self.wake_r, select.POLLIN)
        self._spin_poll = select.poll()
        self._spin_poll.register(in_fd, select.POLLIN)

    def wake(self) -> None:
        """Make a blocked read() return None (callable from any thread)."""
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is already pending
            os.write(self.wake_w, b"\0")

    def read(self, timeout_s: float | None, interrupted: Callable[[], bool]) -> bytes | None:
        """Bytes read; b"" at EOF; None when woken, interrupted or timed out."""
        fd = self.in_fd
        if self.nonblocking:
            try:
                return os.read(fd, READ_CHUNK)
            except BlockingIOError:
                pass
            if self.spin_s > 0:
                # poll(0) costs a third of a failed read; read only once data is there.
                clock = time.perf_counter
                probe = self._spin_poll.poll
                end = clock() + (self.spin_s if timeout_s is None else min(self.spin_s, timeout_s))
                while True:
                    if probe(0):
                        try:
                            return os.read(fd, READ_CHUNK)
                        except BlockingIOError:
                            pass
                    if interrupted() or clock() >= end:
                        break
        if interrupted():
            return None
        events = self._poll.poll(None if timeout_s is None else max(0, int(timeout_s * 1000) + 1))
        readable = False
        for efd, _ in events:
            if efd == self.wake_r:
                self._drain_wake()
            else:
                readable = True  # POLLIN, POLLHUP or POLLERR: read() reports which
        if not readable:
            return None
        try:
            return os.read(fd, READ_CHUNK)
        except BlockingIOError:
            return None

    def read_available(self) -> bytes:
        """Everything readable now without blocking (for shutdown)."""
        if not self.nonblocking:
            return b""
        parts = []
        while True:
            try:
                chunk = os.read(self.in_fd, READ_CHUNK)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def write(self, data: bytes | memoryview) -> None:
        """Write all of data; one write(2) in the common case."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.out_fd, view)
            except BlockingIOError:
                # stdout shares a non-blocking file description (a socket or pty).
                select.select([], [self.out_fd], [])
                continue
            except InterruptedError:
                continue
            view = view[n:]

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.nonblocking:
            try:
                fcntl.fcntl(self.in_fd, fcntl.F_SETFL, self._in_flags)
            except OSError as exc:
                if exc.errno != errno.EBADF:
                    raise
        os.close(self.wake_r)
        os.close(self.wake_w)
