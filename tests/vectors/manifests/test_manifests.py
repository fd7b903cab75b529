"""The manifest conformance cases (README.md here) against modelformat.manifest.

go/manifest's conformance_test.go runs the same index.json; both must give every
case its verdict and, for an invalid one, the same field at fault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelformat import manifest as mf
from tests.vectors.manifests import generate

HERE = Path(__file__).resolve().parent
CASES: list[dict[str, Any]] = json.loads((HERE / "index.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    text = (HERE / case["file"]).read_text(encoding="utf-8")
    where = f"cases/{case['name']}"
    if case["verdict"] == "valid":
        m = mf.loads(text, where)
        # A valid manifest also gives back its JSON unchanged (extra keys kept).
        assert m.to_dict() == json.loads(text)
        return
    with pytest.raises(mf.ManifestError) as exc:
        mf.loads(text, where)
    assert exc.value.field == case["field"], str(exc.value)
    assert str(exc.value).startswith(where + ":"), str(exc.value)


def test_committed_cases_are_what_generate_writes() -> None:
    files = generate.build()
    for rel, data in files.items():
        assert (HERE / rel).read_bytes() == data, f"{rel} is stale: run {generate.__file__}"
    built = {f"built/{p.name}" for p in (HERE / "built").glob("*.json")}
    assert built <= set(files), f"stale files in built/: {sorted(built - set(files))}"


def test_every_fault_the_contract_names_is_covered() -> None:
    """The fault-campaign cases stay in the set (a rename must not drop one)."""
    by_name = {c["name"]: c for c in CASES}
    for name in ("threshold_missing", "threshold_null", "input_name_missing",
                 "output_name_missing", "features_empty_name", "accepted_missing",
                 "case_twin_default_threshold", "case_twin_features", "sha256_uppercase",
                 "check_vectors_file_dotdot", "threshold_zero", "duplicate_default_threshold",
                 "nan_threshold", "symbol_threshold_zero", "unknown_top_level_key"):  # fmt: skip
        assert name in by_name, name
    assert {c["verdict"] for c in CASES} == {"valid", "invalid"}
