"""A test client for the real `infer` process: spawn it, talk msgpack-rpc, check stdout.

Every byte the sidecar writes to stdout goes through one Unpacker here, and
every object decoded is checked to be a well-formed response or notification,
so any test using this client also proves that stdout stays clean.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

ROOT = Path(os.environ.get("SIGMAGATE_ROOT", Path(__file__).resolve().parents[2]))


def python() -> str:
    env = os.environ.get("SIGMAGATE_PYTHON")
    if env:
        return env
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def check_wire(obj: Any) -> None:
    """Assert obj is a msgpack-rpc response or notification as PROTOCOL.md defines."""
    assert type(obj) is list, f"stdout object is not an array: {obj!r}"
    if obj[0] == 1:
        assert len(obj) == 4, obj
        _, msgid, error, result = obj
        assert type(msgid) is int and 0 <= msgid < 2**32, obj
        assert (error is None) != (result is None), (
            f"exactly one of error/result must be nil: {obj!r}"
        )
        if error is not None:
            assert type(error) is dict and type(error["code"]) is str, obj
            assert type(error["message"]) is str, obj
    elif obj[0] == 2:
        assert len(obj) == 3 and type(obj[1]) is str and type(obj[2]) is list, obj
    else:
        raise AssertionError(f"stdout object is neither response nor notification: {obj!r}")


class Sidecar:
    def __init__(
        self, model: str | os.PathLike[str], *args: str, env: dict[str, str] | None = None
    ) -> None:
        cmd = [python(), "-m", "infer", "--model", str(model), *args]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdin and self.proc.stdout
        self._out = self.proc.stdout.fileno()
        self._unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.responses: dict[int, list[Any]] = {}
        self.notifications: list[list[Any]] = []
        self._next_id = 1
        self.stdout_bytes = 0
        self.unique_ids = True  # a fuzz test may itself send duplicate msgids

    # --- writing ---

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(
        self, method: str, params: list[Any] | None = None, msgid: int | None = None
    ) -> int:
        if msgid is None:
            msgid = self._next_id
            self._next_id += 1
        self.send_raw(msgpack.packb([0, msgid, method, [] if params is None else params]))
        return msgid

    # --- reading ---

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self._out], [], [], max(0.0, timeout))
        if not ready:
            return False
        data = os.read(self._out, 1 << 20)
        if not data:
            raise EOFError("sidecar closed stdout")
        self.stdout_bytes += len(data)
        self._unpacker.feed(data)
        for obj in self._unpacker:
            check_wire(obj)
            if obj[0] == 1:
                if self.unique_ids:
                    assert obj[1] not in self.responses, f"msgid {obj[1]} answered twice"
                self.responses[obj[1]] = obj
            else:
                self.notifications.append(obj)
        return True

    def response(self, msgid: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while msgid not in self.responses:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no response to msgid {msgid} within {timeout}s; stderr: {self.stderr_tail()}"
                )
            self._pump(left)
        return self.responses.pop(msgid)

    def notification(self, method: str, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, n in enumerate(self.notifications):
                if n[1] == method:
                    return self.notifications.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"no {method!r} notification within {timeout}s; have {self.notifications}"
                )
            self._pump(left)

    def call(
        self, method: str, params: list[Any] | None = None, timeout: float = 10.0
    ) -> list[Any]:
        return self.response(self.request(method, params), timeout)

    def result(self, method: str, params: list[Any] | None = None) -> Any:
        _, _, error, result = self.call(method, params)
        assert error is None, error
        return result

    def error(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        _, _, error, result = self.call(method, params)
        assert result is None and error is not None, result
        return error

    def ready(self, timeout: float = 20.0) -> dict[str, Any]:
        return self.notification("ready", timeout)[2][0]

    def drain(self, quiet: float = 0.1) -> None:
        """Read until stdout stays silent for `quiet` seconds."""
        while self._pump(quiet):
            pass

    # --- ending ---

    def close_stdin(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Read stdout to EOF (checking every object), then return the exit code."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("sidecar did not close stdout")
                self._pump(left)
        except EOFError:
            pass
        assert self._unpacker.tell() == self.stdout_bytes, "stdout ended inside a message"
        return self.proc.wait(max(0.1, deadline - time.monotonic()))

    def stderr_tail(self) -> str:
        if self.proc.poll() is None or not self.proc.stderr:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f:
                with contextlib.suppress(BrokenPipeError):
                    f.close()

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
