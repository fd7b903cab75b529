"""Run tests/vectors/vectors.json cases against the real sidecar (format: README.md)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack

from infer.client import Client, RPCError
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
    assert doc["protocol"] == 2
    return doc, [Case.from_json(c) for c in doc["cases"]]


class Session:
    """One sidecar per session; its cases run in file order on it."""

    def __init__(self, base: Path, spec: dict[str, Any], timeout: float = 20.0) -> None:
        self.cmd = [python(), "-m", "infer", "--model", str(base / spec["model"]), *spec["args"]]
        self.timeout = timeout

    def __enter__(self) -> Session:
        self.client = Client.spawn(self.cmd, cwd=ROOT, stderr=subprocess.DEVNULL)
        self.client.next_raw(self.timeout)  # the ready notification varies (pid, time): skip it
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.kill()

    def _next_response(self) -> bytes:
        """Skip notifications (e.g. reload_failed, which names a local path)."""
        while True:
            raw = self.client.next_raw(self.timeout)
            if msgpack.unpackb(raw, raw=False)[0] == 1:
                return raw

    def capture(self, case: Case) -> bytes:
        self.client.send_raw(case.request)
        return self._next_response() if case.mode == "code" else self.client.next_raw(self.timeout)

    def check(self, case: Case) -> None:
        """Assert the sidecar's answer to case is what the vectors say."""
        self.client.send_raw(case.request)
        if case.mode in ("bytes", "prefix"):
            got = self.client.next_raw(self.timeout)
            if case.mode == "prefix":
                got = got[: len(case.expect)]
            assert got == case.expect, (
                f"{case.name} ({case.description}):\n got  {got.hex()}\n want {case.expect.hex()}"
            )
            return
        msgid = msgpack.unpackb(case.request, raw=False)[1]
        answer = msgpack.unpackb(self._next_response(), raw=False)
        assert answer[:2] == [1, msgid] and answer[3] is None, f"{case.name}: {answer}"
        assert RPCError.from_wire(answer[2]).code == case.expect_code, f"{case.name}: {answer}"
