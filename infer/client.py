"""A small msgpack-rpc client for the `infer` sidecar (docs/PROTOCOL.md).

Spawns `python -m infer` (or any argv) or attaches to a pair of pipe file
descriptors, sends requests, and reads responses and notifications matched by
msgid; an error answer becomes infer.protocol.RPCError with its code, message,
record and field. Import-light (msgpack and the standard library), for the
smoke test, the test suites and the benchmark's client alike.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgpack

from infer.protocol import NOTIFICATION, REQUEST, RESPONSE, RPCError

__all__ = ["Client", "RPCError", "pack_request"]


def pack_request(msgid: int, method: str, params: list[Any]) -> bytes:
    """The bytes of one request."""
    return msgpack.packb([REQUEST, msgid, method, params])


class Client:
    """One sidecar on a pair of pipes. Not thread-safe: one caller at a time.

    Every message read goes through `on_message` (when set) before it is
    stored, so a caller can check each one; responses wait in `responses` by
    msgid and notifications in `notifications`, in arrival order.
    """

    def __init__(
        self,
        read_fd: int,
        write_fd: int,
        proc: subprocess.Popen[bytes] | None = None,
        on_message: Callable[[list[Any]], None] | None = None,
    ) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.proc = proc
        self.on_message = on_message
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self._raw = bytearray()  # bytes read but not yet returned by next_raw()
        self.responses: dict[int, list[Any]] = {}
        self.notifications: list[list[Any]] = []
        self._next_id = 1
        self.bytes_read = 0

    @classmethod
    def spawn(
        cls,
        argv: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        stderr: int | None = subprocess.PIPE,
        on_message: Callable[[list[Any]], None] | None = None,
    ) -> Client:
        """Start argv with its stdin and stdout as the client's pipes."""
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=cwd,
            env=env,
        )
        assert proc.stdin and proc.stdout
        return cls(proc.stdout.fileno(), proc.stdin.fileno(), proc, on_message)

    # --- writing ---

    def send_raw(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def request(
        self, method: str, params: list[Any] | None = None, msgid: int | None = None
    ) -> int:
        """Send one request; return its msgid (the next free one unless given)."""
        if msgid is None:
            msgid = self._next_id
            self._next_id = (self._next_id + 1) % (1 << 32)
        self.send_raw(pack_request(msgid, method, [] if params is None else params))
        return msgid

    # --- reading ---

    def read_some(self, timeout: float | None) -> bool:
        """Read what is there (waiting up to timeout; None: forever) and store
        every complete message; False when nothing came. EOFError at EOF."""
        if timeout is not None and not select.select([self.read_fd], [], [], max(0.0, timeout))[0]:
            return False
        data = os.read(self.read_fd, 1 << 20)
        if not data:
            raise EOFError("the sidecar closed its stdout")
        self.feed(data)
        return True

    def feed(self, data: bytes) -> None:
        """Decode bytes read by the caller (for a caller that does its own reads)."""
        self.bytes_read += len(data)
        self._unpacker.feed(data)
        for obj in self._unpacker:
            if self.on_message:
                self.on_message(obj)
            if type(obj) is list and len(obj) == 4 and obj[0] == RESPONSE:
                self.responses[obj[1]] = obj
            else:
                self.notifications.append(obj)

    def _wait(self, ready: Callable[[], bool], timeout: float | None, what: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not ready():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"no {what} within {timeout} s{self._exit_note()}")
            self.read_some(left)

    def response(self, msgid: int, timeout: float | None = 10.0) -> list[Any]:
        """The raw response [1, msgid, error, result] to msgid."""
        self._wait(lambda: msgid in self.responses, timeout, f"response to msgid {msgid}")
        return self.responses.pop(msgid)

    def notification(self, method: str, timeout: float | None = 10.0) -> list[Any]:
        """The first notification [2, method, params] of that method, taken out of the queue."""
        found: list[list[Any]] = []

        def ready() -> bool:
            for i, n in enumerate(self.notifications):
                if n[:2] == [NOTIFICATION, method]:
                    found.append(self.notifications.pop(i))
                    return True
            return False

        self._wait(ready, timeout, f"{method!r} notification")
        return found[0]

    def call(
        self, method: str, params: list[Any] | None = None, timeout: float | None = 10.0
    ) -> Any:
        """Send a request and return its result; raise RPCError on an error answer."""
        _, _, error, result = self.response(self.request(method, params), timeout)
        if error is not None:
            raise RPCError.from_wire(error)
        return result

    def ready(self, timeout: float | None = 20.0) -> dict[str, Any]:
        """The info map of the `ready` notification."""
        info: dict[str, Any] = self.notification("ready", timeout)[2][0]
        return info

    def drain(self, quiet: float = 0.1) -> None:
        """Read until nothing comes for `quiet` seconds."""
        while self.read_some(quiet):
            pass

    # --- raw bytes (byte-exact checks) ---

    def next_raw(self, timeout: float | None = 10.0) -> bytes:
        """The exact bytes of the next message, in arrival order. Use either
        this or the decoded reads on one client, not both."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._raw:
                u = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=0)
                u.feed(self._raw)
                try:
                    u.skip()
                except msgpack.OutOfData:
                    pass
                else:
                    n = u.tell()
                    out = bytes(self._raw[:n])
                    del self._raw[:n]
                    return out
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"no whole message within {timeout} s{self._exit_note()}")
            if left is not None and not select.select([self.read_fd], [], [], left)[0]:
                continue
            data = os.read(self.read_fd, 1 << 20)
            if not data:
                raise EOFError("the sidecar closed its stdout")
            self.bytes_read += len(data)
            self._raw += data

    # --- ending ---

    def close(self, timeout: float = 15.0) -> int | None:
        """Close the sidecar's stdin (it exits 0 on EOF), read its stdout to
        EOF (through on_message) and return its exit code (None when attached)."""
        with contextlib.suppress(OSError):
            if self.proc and self.proc.stdin:
                self.proc.stdin.close()
            else:
                os.close(self.write_fd)
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the sidecar did not close its stdout")
                self.read_some(left)
        except EOFError:
            pass
        if self.proc is None:
            return None
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    @property
    def ended_inside_a_message(self) -> bool:
        """Whether the bytes read so far end part-way through a message."""
        return self._unpacker.tell() != self.bytes_read

    def kill(self) -> None:
        """Kill a spawned sidecar and close its pipes (a no-op for an attached one)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                with contextlib.suppress(BrokenPipeError):
                    f.close()

    def _exit_note(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        return f" (the sidecar exited with code {self.proc.returncode})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
