"""The real `infer` process for tests: infer.client.Client, plus a check of stdout.

Every object the sidecar writes to stdout is checked to be a well-formed
response or notification, so any test using this client also proves that
stdout stays clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infer.client import Client, RPCError

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
        if error is not None:  # [code, message] or [code, message, details]
            assert type(error) is list and len(error) in (2, 3), obj
            assert type(error[0]) is str and type(error[1]) is str, obj
            if len(error) == 3:
                assert type(error[2]) is dict and set(error[2]) <= {"record", "field"}, obj
    elif obj[0] == 2:
        assert len(obj) == 3 and type(obj[1]) is str and type(obj[2]) is list, obj
    else:
        raise AssertionError(f"stdout object is neither response nor notification: {obj!r}")


class Sidecar(Client):
    """The real sidecar on `model`, every stdout object checked by check_wire."""

    def __init__(
        self, model: str | os.PathLike[str], *args: str, env: dict[str, str] | None = None
    ) -> None:
        cmd = [python(), "-m", "infer", "--model", str(model), *args]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        assert proc.stdin and proc.stdout
        super().__init__(proc.stdout.fileno(), proc.stdin.fileno(), proc, self._check)
        self.proc: subprocess.Popen[bytes] = proc
        self.unique_ids = True  # a fuzz test may itself send duplicate msgids

    def _check(self, obj: list[Any]) -> None:
        check_wire(obj)
        if obj[0] == 1 and self.unique_ids:
            assert obj[1] not in self.responses, f"msgid {obj[1]} answered twice"

    def result(self, method: str, params: list[Any] | None = None) -> Any:
        return self.call(method, params)

    def error(self, method: str, params: list[Any] | None = None) -> RPCError:
        """The error a request is answered with (failing the test if it succeeds)."""
        try:
            result = self.call(method, params)
        except RPCError as err:
            return err
        raise AssertionError(f"{method} succeeded: {result!r}")

    def close_stdin(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Read stdout to EOF (checking every object), then return the exit code."""
        code = self.close(timeout)
        assert not self.ended_inside_a_message, "stdout ended inside a message"
        assert code is not None
        return code

    def stderr_tail(self) -> str:
        if self.proc.poll() is None or not self.proc.stderr:
            return "(running)"
        return self.proc.stderr.read().decode(errors="replace")[-2000:]
