"""Hot reload: SIGHUP and `reload` swap models between batches; a bad model never wins."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import msgpack
import numpy as np
import onnxruntime as ort

from tests.fixtures.tiny_model import build_model_dir
from tests.infer.sidecar import Sidecar

ROWS = [[0.1, 0.2, 0.3], [0.5, -0.5, -2.0], [-1.0, -1.0, 3.0]]


def expected(model_dir: Path) -> list[float]:
    sess = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(["probability"], {"features": np.array(ROWS, dtype=np.float32)})[0].tolist()


def point(link: Path, target: Path) -> None:
    tmp = link.with_name(".current.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)


def models_dir(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A private models/ (tests flip its symlink) with copies of tiny-a and tiny-b."""
    a = build_model_dir(tmp_path, "tiny-a", seed=0, fp16=False, link_current=True)
    b = build_model_dir(tmp_path, "tiny-b", seed=1, fp16=False)
    return tmp_path / "current", a, b


def corrupt_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    blob = bytearray((dst / "model.onnx").read_bytes())
    blob[-1] ^= 0xFF
    (dst / "model.onnx").write_bytes(bytes(blob))
    return dst


def test_sighup_swaps_under_pipelined_load_without_losing_a_request(tmp_path: Path) -> None:
    current, a, b = models_dir(tmp_path)
    want = {"tiny-a": expected(a), "tiny-b": expected(b)}
    assert want["tiny-a"] != want["tiny-b"]
    with Sidecar(current) as sc:
        assert sc.ready()["model"]["version"] == "tiny-a"
        stop = threading.Event()
        sent: list[int] = []

        def writer() -> None:
            msgid = 1
            while not stop.is_set():
                burst = []
                for _ in range(20):
                    burst.append(msgpack.packb([0, msgid, "predict", [ROWS]]))
                    sent.append(msgid)
                    msgid += 1
                sc.send_raw(b"".join(burst))
                time.sleep(0.0005)

        t = threading.Thread(target=writer)
        t.start()
        try:
            seen_b = 0
            swapped_at = None
            deadline = time.monotonic() + 20
            while seen_b < 2000 and time.monotonic() < deadline:
                sc.read_some(0.05)
                if swapped_at is None and len(sc.responses) > 2000:
                    point(current, b)
                    sc.proc.send_signal(signal.SIGHUP)
                    swapped_at = len(sc.responses)
                seen_b = sum(
                    1 for r in sc.responses.values() if r[3] and r[3]["version"] == "tiny-b"
                )
        finally:
            stop.set()
            t.join()
        sc.close_stdin()
        assert sc.wait_exit() == 0
    assert sorted(sc.responses) == sent, "a request was dropped or answered twice"
    versions = []
    for msgid in sent:
        _, _, err, res = sc.responses[msgid]
        assert err is None, err
        assert res["p"] == want[res["version"]], "a request was split across models"
        versions.append(res["version"])
    switch = versions.index("tiny-b")
    assert (
        switch > 0 and set(versions[:switch]) == {"tiny-a"} and set(versions[switch:]) == {"tiny-b"}
    )
    assert [n[1] for n in sc.notifications] == ["model_loaded"]


def test_reload_method_answers_with_new_info(tmp_path: Path) -> None:
    current, _, b = models_dir(tmp_path)
    status = tmp_path / "status.json"
    with Sidecar(current, "--status-file", str(status)) as sc:
        sc.ready()
        assert json.loads(status.read_text())["version"] == "tiny-a"
        point(current, b)
        info = sc.result("reload")
        assert info["model"]["version"] == "tiny-b" and info["model"]["path"] == str(b)
        assert sc.notification("model_loaded")[2][0]["model"]["version"] == "tiny-b"
        assert sc.result("predict", [ROWS])["p"] == expected(b)
        st = json.loads(status.read_text())
        assert st == {
            "version": "tiny-b",
            "variant": "fp32",
            "loaded_at": info["model"]["loaded_at"],
            "last_error": None,
            "pid": sc.proc.pid,
            "model": os.path.abspath(current),
        }
        assert sc.result("stats")["reloads"] == 1


def test_failed_reload_keeps_old_model(tmp_path: Path) -> None:
    current, a, b = models_dir(tmp_path)
    bad = corrupt_copy(b, tmp_path / "tiny-b-corrupt")
    status = tmp_path / "status.json"
    with Sidecar(current, "--status-file", str(status)) as sc:
        sc.ready()
        point(current, bad)
        sc.proc.send_signal(signal.SIGHUP)
        note = sc.notification("reload_failed")[2][0]
        assert "sha256" in note["error"] and note["path"] == str(bad)
        res = sc.result("predict", [ROWS])
        assert res["version"] == "tiny-a" and res["p"] == expected(a)
        st = json.loads(status.read_text())
        assert st["version"] == "tiny-a" and "sha256" in st["last_error"]
        err = sc.error("reload")
        assert err.code == "reload_failed" and "sha256" in err.message
        stats = sc.result("stats")
        assert stats["failed_reloads"] == 2 and stats["reloads"] == 0
        assert sc.result("info")["model"]["version"] == "tiny-a"


def test_sha256_mismatch_is_refused_at_start(tmp_path: Path, model_a: Path) -> None:
    bad = corrupt_copy(model_a, tmp_path / "corrupt")
    with Sidecar(bad) as sc:
        info = sc.ready()
        assert info["model"] is None
        assert "sha256" in info["error"] and "model.onnx" in info["error"]
        assert sc.error("predict", [ROWS]).code == "no_model"


def test_start_without_model_then_reload_loads_it(tmp_path: Path, model_a: Path) -> None:
    link = tmp_path / "current"
    status = tmp_path / "status.json"
    with Sidecar(link, "--status-file", str(status)) as sc:
        assert sc.ready()["model"] is None
        assert json.loads(status.read_text())["last_error"]
        point(link, model_a)
        sc.proc.send_signal(signal.SIGHUP)
        assert sc.notification("model_loaded")[2][0]["model"]["version"] == "tiny-a"
        assert sc.result("predict", [ROWS])["p"] == expected(model_a)
        assert json.loads(status.read_text())["last_error"] is None


def test_rejected_variant_is_never_served(tmp_path: Path) -> None:
    d = build_model_dir(tmp_path, "tiny-r", seed=3)
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["variants"]["fp16"]["accepted"] = False
    manifest["variants"]["fp16"]["reason"] = "agreement 0.9 < 0.995"
    (d / "manifest.json").write_text(json.dumps(manifest))
    with Sidecar(d, "--variant", "fp16") as sc:
        info = sc.ready()
        assert info["model"] is None and "rejected" in info["error"]


def test_reload_storm_settles_on_last_target(tmp_path: Path) -> None:
    current, a, b = models_dir(tmp_path)
    with Sidecar(current) as sc:
        sc.ready()
        for target in (b, a, b, a, b):
            point(current, target)
            os.kill(sc.proc.pid, signal.SIGHUP)
            time.sleep(0.002)
        final = sc.result("reload")  # served by an attempt that starts after every flip
        assert final["model"]["version"] == "tiny-b"
        assert sc.result("predict", [ROWS])["version"] == "tiny-b"
