"""modelformat.manifest: the one Python definition of manifest.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelformat import manifest as mf

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "vectors" / "model"


def _full() -> dict[str, Any]:
    """The committed fixture plus the optional blocks MODEL_FORMAT.md documents."""
    d = json.loads((FIXTURE / mf.FILE_NAME).read_text())
    d["comparison"] = None
    d["check_vectors"] = {"file": "check_vectors.json", "sha256": "ab" * 32, "rows": 320}
    d["reference"] = {
        "features": {
            f: {"edges": [float(i) for i in range(11)], "fractions": [0.1] * 10}
            for f in d["features"]
        },
        "approval_rate": 0.21,
        "approval_threshold": 0.65,
        "rows": 600,
    }
    d["a_key_from_a_newer_writer"] = {"kept": True}
    return d


def test_round_trip_gives_back_the_same_json_in_the_same_order() -> None:
    d = _full()
    m = mf.Manifest.from_dict(d)
    assert isinstance(m.check_vectors, mf.FileRef) and m.check_vectors.rows == 320
    assert isinstance(m.reference, mf.Reference)
    assert m.reference.features["price_dist"].fractions == [0.1] * 10
    out = m.to_dict()
    assert json.dumps(out, indent=2) == json.dumps(d, indent=2)


def test_a_built_manifest_writes_null_reason_and_comparison_and_reads_back(tmp_path) -> None:
    m = mf.Manifest(
        version="v1",
        features=["a", "b"],
        serve_variant="fp32",
        variants={"fp32": mf.Variant(file="model.onnx", sha256="00" * 32, accepted=True)},
    )
    mf.write(tmp_path / mf.FILE_NAME, m)
    d = json.loads((tmp_path / mf.FILE_NAME).read_text())
    assert d["schema"] == mf.SCHEMA and d["default_threshold"] == mf.DEFAULT_THRESHOLD
    assert d["comparison"] is None and d["variants"]["fp32"]["reason"] is None
    assert mf.load(tmp_path) == m


@pytest.mark.parametrize(
    ("path", "value", "fragment"),
    [
        (("schema",), 2, "schema 2"),
        (("features",), ["a", "a"], "field 'features' must be distinct"),
        (("default_threshold",), "high", "field 'default_threshold' has the wrong type"),
        (("variants", "fp32", "sha256"), 5, "field 'variants.fp32.sha256' has the wrong type"),
        (("variants", "fp32", "sha256"), "AB" * 32, "64 lowercase hex digits"),
        (("default_threshold",), 0.0, "approves every trade"),
        (("variants", "fp32", "file"), "../x.onnx", "field 'variants.fp32.file' must be a plain"),
        (("reference", "features", "tick_ratio", "edges"), [0.0], "reference.features.tick_ratio"),
        (("check_vectors", "file"), None, "missing key 'check_vectors.file'"),
    ],
)
def test_invalid_field_is_named_with_the_file(tmp_path, path, value, fragment) -> None:
    d = _full()
    node = d
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    (tmp_path / mf.FILE_NAME).write_text(json.dumps(d))
    with pytest.raises(mf.ManifestError) as exc:
        mf.load(tmp_path)
    assert str(exc.value).startswith(str(tmp_path / mf.FILE_NAME)), exc.value
    assert fragment in str(exc.value)


def test_served_refuses_missing_and_rejected_variants() -> None:
    d = _full()
    d["variants"]["fp32"]["accepted"] = False
    d["variants"]["fp32"]["reason"] = "agreement 0.9 < 0.995"
    with pytest.raises(mf.ManifestError, match=r"rejected \(agreement 0.9") as exc:
        mf.Manifest.from_dict(d)  # serve_variant must name an accepted variant
    assert exc.value.field == "variants.fp32.accepted"
    d["variants"]["fp32"]["accepted"] = True
    with pytest.raises(mf.ManifestError, match="no variant 'int8'"):
        mf.Manifest.from_dict(d).served("int8")


def test_verify_file_returns_the_bytes_it_hashed_or_names_the_mismatch(tmp_path) -> None:
    f = tmp_path / "model.onnx"
    f.write_bytes(b"graph")
    want = mf.sha256_file(f)
    assert mf.verify_file(f, want) == b"graph"
    with pytest.raises(mf.ManifestError, match="does not match"):
        mf.verify_file(f, want.upper())  # one spelling, as the manifest's rule says
    with pytest.raises(mf.ManifestError, match=r"model\.onnx: sha256 .* does not match"):
        mf.verify_file(f, "0" * 64)


def test_importing_it_imports_nothing_heavy() -> None:
    """The serving install carries it: stdlib only."""
    code = (
        "import sys, modelformat.manifest; "
        "heavy = {'numpy', 'onnxruntime', 'sklearn', 'onnx'} & set(sys.modules); "
        "sys.exit(sorted(heavy) or 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_error_carries_the_field_path(tmp_path) -> None:
    d = _full()
    d["check_vectors"]["file"] = ".."
    with pytest.raises(mf.ManifestError) as exc:
        mf.Manifest.from_dict(d)
    assert exc.value.field == "check_vectors.file"


def test_defaults_command_prints_json_shell_and_one_value() -> None:
    from modelformat import defaults

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "modelformat", "defaults", *args],
            check=True, cwd=ROOT, capture_output=True, text=True,
        ).stdout  # fmt: skip

    values = json.loads(run())
    assert values["DEFAULT_THRESHOLD"] == mf.DEFAULT_THRESHOLD == defaults.DEFAULT_THRESHOLD
    assert values["KNOWN_FEATURES"][:3] == ["tick_ratio", "depth_ratio", "price_dist"]
    assert run("--get", "drift_psi").strip() == "0.2"
    shell = subprocess.run(
        ["bash", "-c", 'eval "$1"; echo "$DEFAULT_MIN_AUC $KNOWN_FEATURES"', "_", run("--shell")],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert shell == ["0.55", ",".join(defaults.KNOWN_FEATURES)]
