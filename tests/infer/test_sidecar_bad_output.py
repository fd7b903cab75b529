"""A model answer that is not a probability is an error, never a decision.

The model here is valid on its training range (so it passes the load-time
canary) and leaves [0, 1] outside it: p = 0.5 + 0.1 · tick_ratio. A trained
ensemble cannot do that, but a broken export or a hand-made graph can, and a
bot must not approve a trade on p = 2.5.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import msgpack
import numpy as np
import pytest

from tests.infer.sidecar import Sidecar

onnx = pytest.importorskip("onnx")

FEATURES = ["tick_ratio", "depth_ratio", "price_dist"]
GOOD = [0.1, 0.2, 0.3]
BAD = [20.0, 0.2, 0.3]  # p = 2.5
NEGATIVE = [-3.0e38, 0.2, 0.3]  # p = -3e37


def _linear_model(features: str, out: str) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", [features, "col0"], ["x0"], axis=1),
        helper.make_node("Mul", ["x0", "slope"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], [out]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "col0"),
        numpy_helper.from_array(np.array(0.1, dtype=np.float32), "slope"),
        numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half"),
    ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info(features, TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", 1])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _fails_on_large_tick_ratio(features: str, out: str) -> bytes:
    """The linear model, plus 0 x an entry of a 16-entry table indexed by
    int(tick_ratio): onnxruntime fails the whole run when tick_ratio >= 16, and
    scores every canary row (the training ranges are far below)."""
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(_linear_model(features, out))
    g = model.graph
    g.node[-1].output[0] = "p_linear"
    g.node.extend(
        [
            helper.make_node("Cast", ["x0"], ["index"], to=onnx.TensorProto.INT64),
            helper.make_node("Gather", ["table", "index"], ["entry"], axis=0),
            helper.make_node("Mul", ["entry", "zero"], ["nothing"]),
            helper.make_node("Add", ["p_linear", "nothing"], [out]),
        ]
    )
    g.initializer.extend(
        [
            numpy_helper.from_array(np.zeros(16, dtype=np.float32), "table"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ]
    )
    return model.SerializeToString()


def _model_dir(model_a: Path, out: Path, blob: bytes, version: str) -> Path:
    """model_a's directory serving the graph blob as its fp32 variant."""
    shutil.copytree(model_a, out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "model.onnx").write_bytes(blob)
    manifest["version"] = version
    manifest["serve_variant"] = "fp32"
    manifest["variants"] = {
        "fp32": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(blob).hexdigest(),
            "bytes": len(blob),
            "accepted": True,
            "reason": None,
        }
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


def _io_names(model_a: Path) -> tuple[str, str]:
    manifest = json.loads((model_a / "manifest.json").read_text())
    return manifest["input_name"], manifest["output_name"]


@pytest.fixture(scope="module")
def linear_dir(model_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad-output") / "linear"
    return _model_dir(model_a, out, _linear_model(*_io_names(model_a)), "linear-1")


@pytest.fixture(scope="module")
def failing_dir(model_a: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ort-failure") / "table"
    blob = _fails_on_large_tick_ratio(*_io_names(model_a))
    return _model_dir(model_a, out, blob, "table-1")


def _go(msgid: int, *records: list[float]) -> bytes:
    """The Go predictor's encoding: array records of float 32 (fewer than 16)."""
    body = b"".join(b"\x93" + b"".join(b"\xca" + struct.pack(">f", v) for v in r) for r in records)
    head = b"\xa7predict\x91" + bytes([0x90 | len(records)])
    return b"\x94\x00" + msgpack.packb(msgid) + head + body


def test_a_record_scored_outside_0_1_is_answered_bad_output(linear_dir: Path) -> None:
    with Sidecar(linear_dir) as sc:
        assert sc.ready()["model"]["version"] == "linear-1"
        assert sc.result("predict", [[GOOD]])["p"] == pytest.approx([0.51])
        err = sc.error("predict", [[GOOD, GOOD, BAD]])
        assert err.code == "bad_output"
        assert err.record == 2
        assert "2.5" in err.message and "no decision" in err.message
        # The byte-level path and the object path agree.
        sc.send_raw(_go(900, BAD))
        _, _, err, result = sc.response(900)
        assert result is None and err[0] == "bad_output" and err[2] == {"record": 0}
        sc.send_raw(_go(901, NEGATIVE))
        _, _, err, result = sc.response(901)
        assert result is None and err[0] == "bad_output"
        sc.send_raw(_go(902, GOOD))
        _, _, err, result = sc.response(902)
        assert err is None and result["p"] == pytest.approx([0.51])
        sc.send_raw(_go(903, GOOD, NEGATIVE, GOOD))
        _, _, err, result = sc.response(903)
        assert result is None and err[0] == "bad_output" and err[2] == {"record": 1}
        sc.send_raw(_go(904, GOOD, GOOD))
        _, _, err, result = sc.response(904)
        assert err is None and result["p"] == pytest.approx([0.51, 0.51])
        assert sc.result("stats")["errors"] == {"bad_output": 4}


def test_only_the_requests_with_a_bad_answer_fail_in_a_batch(linear_dir: Path) -> None:
    with Sidecar(linear_dir) as sc:
        sc.ready()
        # Three requests in one write: the sidecar scores them as one batch.
        sc.send_raw(
            msgpack.packb([0, 1, "predict", [[GOOD]]])
            + msgpack.packb([0, 2, "predict", [[GOOD, BAD]]])
            + msgpack.packb([0, 3, "predict", [[GOOD, GOOD], 0.5]])
        )
        first, second, third = (sc.response(i) for i in (1, 2, 3))
        assert first[2] is None and first[3]["p"] == pytest.approx([0.51])
        assert second[3] is None and second[2][0] == "bad_output"
        assert second[2][2] == {"record": 1}
        assert third[2] is None and third[3]["approve"] == [True, True]


def test_an_onnxruntime_failure_answers_internal_and_the_sidecar_serves_on(
    failing_dir: Path,
) -> None:
    fails = [50.0, 0.2, 0.3]  # tick_ratio past the graph's table
    with Sidecar(failing_dir) as sc:
        assert sc.ready()["model"]["version"] == "table-1"
        # The byte-level path's one record and batch, and the object path's map record.
        for msgid, data in (
            (1, _go(1, fails)),
            (2, _go(2, GOOD, fails, GOOD)),
            (3, msgpack.packb([0, 3, "predict", [[dict(zip(FEATURES, fails, strict=True))]]])),
        ):
            sc.send_raw(data)
            _, _, err, result = sc.response(msgid)
            assert result is None and err[0] == "internal"
            assert "onnxruntime failed" in err[1]
        sc.send_raw(_go(4, GOOD))
        _, _, err, result = sc.response(4)
        assert err is None and result["p"] == pytest.approx([0.51])
        sc.send_raw(_go(5, *[GOOD] * 5))
        _, _, err, result = sc.response(5)
        assert err is None and result["p"] == pytest.approx([0.51] * 5)
        assert sc.result("stats")["errors"] == {"internal": 3}
