"""Loading refuses every model MODEL_FORMAT.md says must not be served, naming the cause."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from infer.model import ModelError, load
from tests.fixtures.tiny_model import build_model_dir
from tests.infer.sidecar import Sidecar


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    return build_model_dir(tmp_path, "tiny-m", seed=5, fp16=False)


def edit_manifest(d: Path, change: Callable[[dict[str, Any]], None]) -> None:
    m = json.loads((d / "manifest.json").read_text())
    change(m)
    (d / "manifest.json").write_text(json.dumps(m))


def test_valid_model_loads_and_scores(fresh: Path) -> None:
    model = load(str(fresh))
    p = model.predict(np.zeros((5, 3), dtype=np.float32))
    assert p.shape == (5,) and ((p >= 0) & (p <= 1)).all()
    assert model.version == "tiny-m" and model.ood(np.zeros((1, 3), dtype=np.float32)) == [False]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m.update(schema=2), "schema 2"),
        (lambda m: m.pop("version"), "missing key 'version'"),
        (lambda m: m.update(features=["a", "a", "b"]), "distinct"),
        (lambda m: m.update(features=["a", "b"]), "expected [N, 2]"),
        (lambda m: m.update(input_name="x"), "expected one input 'x'"),
        (lambda m: m.update(output_name="label"), "expected one output 'label'"),
        (lambda m: m.update(serve_variant="int8"), "no variant 'int8'"),
        (lambda m: m["variants"]["fp32"].update(accepted=False), "rejected"),
        (lambda m: m["variants"]["fp32"].update(sha256="0" * 64), "sha256"),
        (lambda m: m["variants"]["fp32"].update(file="../model.onnx"), "plain 'file'"),
        (lambda m: m.update(default_threshold=1.5), "outside [0, 1]"),
    ],
)
def test_bad_manifest_is_refused_with_reason(
    fresh: Path, change: Callable[[dict[str, Any]], None], fragment: str
) -> None:
    edit_manifest(fresh, change)
    with pytest.raises(ModelError) as exc:
        load(str(fresh))
    assert fragment in str(exc.value)


def test_invalid_json_names_file_and_line(fresh: Path) -> None:
    (fresh / "manifest.json").write_text('{\n  "schema": 1,\n  oops\n}')
    with pytest.raises(ModelError, match=r"manifest.json: line 3"):
        load(str(fresh))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (b'{"schema": 1, "version": "\xff"}', "manifest.json: not UTF-8 text (byte 26"),
        (b"[" * 100_000, "manifest.json: invalid JSON: nested too deeply"),
    ],
)
def test_a_manifest_no_json_reader_takes_is_refused_naming_it(
    fresh: Path, text: bytes, fragment: str
) -> None:
    (fresh / "manifest.json").write_bytes(text)
    with pytest.raises(ModelError, match=re.escape(fragment)):
        load(str(fresh))
    with Sidecar(fresh) as sc:  # and the sidecar still starts, without a model
        info = sc.ready()
        assert info["model"] is None and fragment in info["error"]
        sc.close_stdin()
        assert sc.wait_exit() == 0


def end_graph_with(
    d: Path, initializers: list[onnx.TensorProto], nodes: list[onnx.NodeProto]
) -> None:
    """Rewire d's served graph: its output becomes "p_raw", which nodes (with
    initializers) turn into the output again; the manifest's sha256 follows."""
    import hashlib

    model = onnx.load(str(d / "model.onnx"))
    g = model.graph
    for node in g.node:
        node.output[:] = ["p_raw" if o == "probability" else o for o in node.output]
    g.initializer.extend(initializers)
    g.node.extend(nodes)
    blob = model.SerializeToString()
    (d / "model.onnx").write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    edit_manifest(d, lambda m: m["variants"]["fp32"].update(sha256=sha))


def test_canary_refuses_probabilities_outside_unit_interval(fresh: Path) -> None:
    """A graph that outputs p + 1.5 passes every static check but not the canary."""
    from onnx import TensorProto, helper

    end_graph_with(
        fresh,
        [helper.make_tensor("shift", TensorProto.FLOAT, [], [1.5])],
        [helper.make_node("Add", ["p_raw", "shift"], ["probability"])],
    )
    with pytest.raises(ModelError, match="canary"):
        load(str(fresh))


def test_canary_refuses_a_graph_that_cannot_score_one_row(fresh: Path) -> None:
    """The graph adds 0 x the batch's fourth row: onnxruntime fails on fewer rows,
    so the four-row canary batch passes and one record at a time never would."""
    from onnx import TensorProto, helper

    features = onnx.load(str(fresh / "model.onnx")).graph.input[0].name
    end_graph_with(
        fresh,
        [
            helper.make_tensor("row3", TensorProto.INT64, [1], [3]),
            helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
        ],
        [
            helper.make_node("Gather", [features, "row3"], ["fourth"], axis=0),
            helper.make_node("ReduceSum", ["fourth"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["p_raw", "nothing"], ["probability"]),
        ],
    )
    with pytest.raises(ModelError, match="canary row failed alone"):
        load(str(fresh))


def test_manifest_without_stats_gives_no_ood(fresh: Path) -> None:
    edit_manifest(fresh, lambda m: m.pop("feature_stats"))
    model = load(str(fresh))
    assert model.ood(np.zeros((2, 3), dtype=np.float32)) is None


def test_corrupt_unserved_variant_file_refuses_the_directory(tmp_path: Path) -> None:
    """Every file the manifest lists is checked, not only the one served."""
    d = build_model_dir(tmp_path, "tiny-f", seed=6)
    fp16 = d / json.loads((d / "manifest.json").read_text())["variants"]["fp16"]["file"]
    fp16.write_bytes(fp16.read_bytes() + b"\0")
    with pytest.raises(ModelError, match=r"model\.fp16\.onnx: sha256"):
        load(str(d), variant="fp32")


def test_missing_model_directory_says_so_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "current").symlink_to("never-deployed")
    with pytest.raises(ModelError, match=r"current: no such model directory .*deploy_model\.sh"):
        load(str(tmp_path / "models" / "current"))
    (tmp_path / "file").write_text("")
    with pytest.raises(ModelError, match=r"file: not a directory"):
        load(str(tmp_path / "file"))
