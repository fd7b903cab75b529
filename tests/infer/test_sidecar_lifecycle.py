"""Shutdown: EOF, SIGTERM and SIGINT answer what was sent, flush, and exit 0."""

from __future__ import annotations

import signal
import time
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


def test_idle_sidecar_blocks_instead_of_spinning(model_a: Path) -> None:
    """The spin after a batch is bounded: an idle sidecar sleeps in poll()."""
    import os
    import time

    def cpu_s(pid: int) -> float:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    with Sidecar(model_a, "--spin-us", "1000") as sc:
        sc.ready()
        sc.result("predict", [[ROW]])
        before = cpu_s(sc.proc.pid)
        time.sleep(1.0)
        assert cpu_s(sc.proc.pid) - before < 0.1
        assert sc.result("predict", [[ROW]])["p"]


def test_prints_from_library_code_never_reach_stdout(model_a: Path, tmp_path: Path) -> None:
    """fd 1 is re-pointed at stderr once serving starts; the protocol has its own fd."""
    import os

    (tmp_path / "sitecustomize.py").write_text(
        "import atexit, os, sys\n"
        "atexit.register(lambda: (print('leak via print'), os.write(1, b'leak via fd 1')))\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    with Sidecar(model_a, env=env) as sc:
        sc.ready()
        sc.result("predict", [[ROW]])
        sc.close_stdin()
        assert sc.wait_exit() == 0  # every stdout byte was checked as msgpack-rpc
        assert sc.proc.stderr is not None
        err = sc.proc.stderr.read()
    assert b"leak via print" in err and b"leak via fd 1" in err


def slow_loading_copy(src: Path, dst: Path) -> Path:
    """tiny-a padded with a 64 MiB unused initializer: hashing and parsing it take a while."""
    import hashlib
    import json
    import shutil

    import numpy as np
    import onnx
    from onnx import numpy_helper

    shutil.copytree(src, dst)
    model = onnx.load(str(dst / "model.onnx"))
    pad = numpy_helper.from_array(np.zeros(16 << 20, dtype=np.float32), name="padding")
    model.graph.initializer.append(pad)
    blob = model.SerializeToString()
    (dst / "model.onnx").write_bytes(blob)
    manifest = json.loads((dst / "manifest.json").read_text())
    manifest["variants"]["fp32"]["sha256"] = hashlib.sha256(blob).hexdigest()
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return dst


def wait_for_sighup_handler(pid: int, timeout: float = 20.0) -> None:
    """Return as soon as the process catches SIGHUP (its SigCgt mask in /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(f"/proc/{pid}/status") as fh:
            caught = next(line for line in fh if line.startswith("SigCgt:"))
        if int(caught.split()[1], 16) & (1 << (signal.SIGHUP - 1)):
            return
        time.sleep(0.001)


def test_sighup_while_the_model_loads_does_not_kill_the_sidecar(
    model_a: Path, tmp_path: Path
) -> None:
    import select

    slow = slow_loading_copy(model_a, tmp_path / "slow")
    with Sidecar(slow) as sc:
        wait_for_sighup_handler(sc.proc.pid)
        assert sc.proc.stdout is not None
        before_ready = not select.select([sc.proc.stdout], [], [], 0)[0]
        sc.proc.send_signal(signal.SIGHUP)
        assert before_ready, "the handler only came with ready: SIGHUP during load would kill"
        assert sc.ready()["model"]["version"] == "tiny-a"
        # the remembered SIGHUP is acted on once serving starts
        assert sc.notification("model_loaded")[2][0]["model"]["version"] == "tiny-a"
        assert sc.proc.poll() is None


def test_sighup_before_onnxruntime_is_imported_does_not_kill_the_sidecar(model_a: Path) -> None:
    with Sidecar(model_a) as sc:
        pid = sc.proc.pid
        wait_for_sighup_handler(pid)
        with open(f"/proc/{pid}/maps") as fh:
            imported = "onnxruntime" in fh.read()
        sc.proc.send_signal(signal.SIGHUP)
        assert not imported, "the handler came after onnxruntime's import: SIGHUP then would kill"
        assert sc.ready()["model"]["version"] == "tiny-a"
        assert sc.notification("model_loaded")[2][0]["model"]["version"] == "tiny-a"
