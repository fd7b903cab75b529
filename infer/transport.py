"""Raw stdin/stdout I/O for the serving loop: spin-then-block reads, whole writes.

Why spin: a reader blocked in poll() pays a scheduler wake-up per request,
and on an idle (virtual) machine a sleeping core may take longer to wake than
the model takes to answer. After each batch the loop may poll a non-blocking
stdin for `spin_s` before it blocks, so a client that answers quickly finds
the sidecar running. The price is CPU: up to `spin_s` of one core after every
batch, nothing when idle for longer. Whether a read spins at all is learned
from the client's own turnarounds (infer/spin.py): a client that blocks in
read() is served faster by a sidecar that blocks too.

The spin yields the CPU between probes: with the other core taken by another
process, a spin that did not yield kept the client from running.

Why the spin stops on a busy host: a yield that another runnable process
takes costs the rest of that process's time slice (hundreds of µs to ms), and
a request arriving meanwhile finds the sidecar runnable but off the CPU, with
no wake-up to bring it back early; the same happens when the kernel puts the
sidecar on the core where the client's own reader spins. So the loop counts
late yields, up by one for each late one and down by one for each prompt one;
at STOLEN_TO_PAUSE it stops spinning and blocks instead (a blocked reader is
woken at once by the write, and often moved to an idle core), then tries
again. The pause starts at PAUSE_MIN_S and doubles, up to PAUSE_MAX_S, each
time spinning fails again soon after it resumed: a lasting shortage of CPU is
probed rarely, and a passing one costs little spinning. The measurements
behind these choices are in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import select
import stat
import time
from collections.abc import Callable
from typing import Any

from infer.spin import SpinChoice

READ_CHUNK = 1 << 18
# A yield that returns later than this ran another process: the host is busy.
YIELD_STOLEN_S = 50e-6
# Net late yields (late minus prompt ones, floored at 0) that stop the spin,
STOLEN_TO_PAUSE = 16
# and how long spinning then stays off before it is tried again: PAUSE_MIN_S,
# doubled up to PAUSE_MAX_S while it stops again within PAUSE_MAX_S of resuming.
PAUSE_MIN_S = 0.1
PAUSE_MAX_S = 10.0


class Stdio:
    def __init__(self, in_fd: int, out_fd: int, spin_s: float) -> None:
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.spin_s = spin_s
        self.spin_paused_until = 0.0  # time.perf_counter() before which reads do not spin
        self.spin_pauses = 0
        self._late_yields = 0  # late minus prompt yields, floored at 0
        self._pause_s = PAUSE_MIN_S  # the next pause's length
        self.choice = SpinChoice()
        self._sent_at = 0.0  # time.perf_counter() before the last write, 0 once a read used it
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
        # Reads land in one preallocated buffer: os.read(fd, 256 KiB) would
        # allocate (and often mmap) 256 KiB per call, on every request.
        self._file = io.FileIO(in_fd, "rb", closefd=False)
        self._buf = bytearray(READ_CHUNK)
        self._view = memoryview(self._buf)
        self._spin_poll = select.poll()
        self._spin_poll.register(in_fd, select.POLLIN)

    def wake(self) -> None:
        """Make a blocked read() return None (callable from any thread)."""
        with contextlib.suppress(BlockingIOError):  # full: a wake-up is already pending
            os.write(self.wake_w, b"\0")

    def _read(self) -> memoryview:
        """One read into the shared buffer; raises BlockingIOError when empty."""
        n = self._file.readinto(self._buf)
        if n is None:  # FileIO's way of saying EAGAIN
            raise BlockingIOError
        return self._view[:n]

    def read(self, timeout_s: float | None, interrupted: Callable[[], bool]) -> memoryview | None:
        """Bytes read (valid until the next read); empty at EOF; None when woken,
        interrupted or timed out."""
        clock = time.perf_counter
        now = clock()
        sent = self._sent_at  # 0 unless this read answers a ping (infer/spin.py)
        spin = (
            self.nonblocking
            and self.spin_s > 0
            and now >= self.spin_paused_until
            and (not sent or self.choice.spin_next())
        )
        data = self._spin(now, timeout_s, interrupted) if spin else None
        if data is None:
            data = self._block(timeout_s, interrupted)
        if data and sent:
            self._sent_at = 0.0
            self.choice.observe(spin, clock() - sent)
        return data

    def _spin(
        self, now: float, timeout_s: float | None, interrupted: Callable[[], bool]
    ) -> memoryview | None:
        """Poll stdin for up to spin_s; None when nothing came."""
        # poll(0) is cheaper than a read that finds nothing, so probe first
        # and read only once data is there. The clock and the flags are checked
        # every 8 probes to keep each probe short.
        clock = time.perf_counter
        probe = self._spin_poll.poll
        _yield = os.sched_yield
        end = now + (self.spin_s if timeout_s is None else min(self.spin_s, timeout_s))
        while True:
            for _ in range(8):
                if probe(0):
                    try:
                        return self._read()
                    except BlockingIOError:
                        pass
            if interrupted() or clock() >= end:
                return None
            # Give the CPU to whatever else is runnable on it: on a busy
            # host a spinning sidecar otherwise delays the very client
            # (or echo) whose answer it waits for by up to spin_s.
            now = clock()
            _yield()
            if clock() - now <= YIELD_STOLEN_S:
                if self._late_yields:
                    self._late_yields -= 1
                continue
            self._late_yields += 1  # another process had the CPU (module doc)
            if self._late_yields >= STOLEN_TO_PAUSE:
                self._pause_spin(clock())
                return None

    def _block(self, timeout_s: float | None, interrupted: Callable[[], bool]) -> memoryview | None:
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
            return self._read()
        except BlockingIOError:
            return None

    def _pause_spin(self, now: float) -> None:
        # Soon after the last pause ended: the shortage lasts, so probe it less often.
        recent = self.spin_pauses > 0 and now - self.spin_paused_until < PAUSE_MAX_S
        self._pause_s = min(PAUSE_MAX_S, self._pause_s * 2) if recent else PAUSE_MIN_S
        self._late_yields = 0
        self.spin_paused_until = now + self._pause_s
        self.spin_pauses += 1

    def spin_stats(self) -> dict[str, Any]:
        """The `stats` fields about spinning (docs/PROTOCOL.md)."""
        return {
            "spin_pauses": self.spin_pauses,
            "spin_preferred": self.choice.prefer_spin,
            "spin_switches": self.choice.switches,
            "spin_trial_us": self.choice.last_trial_us,
        }

    def read_available(self, limit: int) -> bytes:
        """What is readable now without blocking, up to about limit bytes (for
        shutdown: a client that keeps writing must not keep the sidecar
        reading, nor fill its memory)."""
        if not self.nonblocking:
            return b""
        parts = []
        size = 0
        while size < limit:
            try:
                chunk = os.read(self.in_fd, READ_CHUNK)
            except (BlockingIOError, OSError):
                break
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)

    def write(self, data: bytes | memoryview, ping: bool = False) -> None:
        """Write all of data; one write(2) in the common case. ping: data answers
        a read that held one request, so a turnaround starts (infer/spin.py)."""
        if ping:
            self._sent_at = time.perf_counter()
        else:
            self._sent_at = 0.0
            self.choice.restart()
        try:
            n = os.write(self.out_fd, data)
        except (BlockingIOError, InterruptedError):
            n = 0
        if n != len(data):
            self.write_rest(memoryview(data)[n:])

    def write_rest(self, view: memoryview) -> None:
        """Finish a write that was short or would have blocked."""
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
