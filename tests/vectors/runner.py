"""Run tests/vectors/vectors.json cases against the real sidecar (format: README.md)."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from tests.infer.sidecar import ROOT, python


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    session: str
    request: bytes
    mode: str  # bytes | prefix | code
    expect: bytes
    expect_code: str | None

    @classmethod
    def from_json(cls, c: dict[str, Any]) -> Case:
        request = bytes.fromhex(c["request"])
        fill = c.get("request_fill")
        if fill:
            request += bytes.fromhex(fill["byte"]) * fill["count"]
        return cls(
            name=c["name"],
            description=c["description"],
            session=c["session"],
            request=request,
            mode=c["mode"],
            expect=bytes.fromhex(c.get("expect", "")),
            expect_code=c.get("expect_code"),
        )


def load_cases(path: Path) -> tuple[dict[str, Any], list[Case]]:
    doc = json.loads(path.read_text())
    assert doc["protocol"] == 1
    return doc, [Case.from_json(c) for c in doc["cases"]]


class Session:
    """One sidecar per session; its cases run in file order on it."""

    def __init__(self, base: Path, spec: dict[str, Any], timeout: float = 20.0) -> None:
        self.cmd = [python(), "-m", "infer", "--model", str(base / spec["model"]), *spec["args"]]
        self.timeout = timeout
        self.buf = b""

    def __enter__(self) -> Session:
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self._next_message()  # the ready notification varies (pid, time): skip it
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout):
            if f:
                f.close()

    def _fill(self, n: int) -> None:
        deadline = time.monotonic() + self.timeout
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"sidecar sent {len(self.buf)} of {n} bytes")
            data = os.read(fd, 1 << 16)
            if not data:
                raise EOFError("sidecar closed stdout")
            self.buf += data

    def _take(self, n: int) -> bytes:
        self._fill(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _next_message(self) -> bytes:
        """The raw bytes of the next complete message on stdout."""
        while True:
            u = msgpack.Unpacker(raw=False)
            u.feed(self.buf)
            try:
                u.unpack()
                return self._take(u.tell())
            except msgpack.OutOfData:
                self._fill(len(self.buf) + 1)

    def send(self, data: bytes) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def _next_response(self) -> bytes:
        """Skip notifications (e.g. reload_failed, which names a local path)."""
        while True:
            raw = self._next_message()
            if msgpack.unpackb(raw, raw=False)[0] == 1:
                return raw

    def capture(self, case: Case) -> bytes:
        self.send(case.request)
        return self._next_response() if case.mode == "code" else self._next_message()

    def check(self, case: Case) -> None:
        """Assert the sidecar's answer to case is what the vectors say."""
        self.send(case.request)
        if case.mode in ("bytes", "prefix"):
            got = self._take(len(case.expect))
            assert got == case.expect, (
                f"{case.name} ({case.description}):\n got  {got.hex()}\n want {case.expect.hex()}"
            )
            return
        msgid = msgpack.unpackb(case.request, raw=False)[1]
        answer = msgpack.unpackb(self._next_response(), raw=False)
        assert answer[:2] == [1, msgid] and answer[3] is None, f"{case.name}: {answer}"
        assert answer[2]["code"] == case.expect_code, f"{case.name}: {answer}"
