"""Shutdown: EOF, SIGTERM and SIGINT answer what was sent, flush, and exit 0."""

from __future__ import annotations

import signal
from pathlib import Path

import msgpack
import pytest

from tests.infer.sidecar import Sidecar

ROW = [0.1, 0.2, 0.3]


def pipelined(n: int, first: int = 1) -> bytes:
    return b"".join(
        msgpack.packb([0, first + i, "predict", [[ROW] * (1 + i % 3)]]) for i in range(n)
    )


def test_eof_answers_pending_requests_and_exits_zero(model_a: Path) -> None:
    with Sidecar(model_a) as sc:
        sc.ready()
        sc.send_raw(pipelined(300))
        sc.close_stdin()
        assert sc.wait_exit() == 0
        assert sorted(sc.responses) == list(range(1, 301))
        assert all(r[2] is None for r in sc.responses.values())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_answers_requests_already_sent_and_exits_zero(
    model_a: Path, sig: signal.Signals
) -> None:
    with Sidecar(model_a) as sc:
        sc.ready()
        sc.send_raw(pipelined(300))
        sc.proc.send_signal(sig)
        assert sc.wait_exit() == 0
        assert sorted(sc.responses) == list(range(1, 301))


def test_signal_while_idle_exits_zero(model_a: Path) -> None:
    with Sidecar(model_a) as sc:
        sc.ready()
        sc.result("info")
        sc.proc.send_signal(signal.SIGTERM)
        assert sc.wait_exit() == 0


def test_eof_inside_a_message_is_reported_then_exit_zero(model_a: Path) -> None:
    with Sidecar(model_a) as sc:
        sc.ready()
        sc.send_raw(msgpack.packb([0, 1, "info", []])[:-1])
        sc.close_stdin()
        assert sc.wait_exit() == 0
        assert [n[2][0]["code"] for n in sc.notifications] == ["bad_message"]


def test_logs_are_json_lines_on_stderr(model_a: Path) -> None:
    import json

    with Sidecar(model_a) as sc:
        sc.ready()
        sc.send_raw(b"\xc1")
        sc.notification("error")
        sc.close_stdin()
        assert sc.wait_exit() == 0
        assert sc.proc.stderr is not None
        lines = sc.proc.stderr.read().decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert {"ts", "level", "msg"} <= set(records[0])
    assert any(r["msg"] == "bad input" and r["code"] == "bad_message" for r in records)
