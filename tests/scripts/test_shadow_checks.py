"""The promotion gate's arithmetic (scripts/shadow_checks.py), without a sidecar."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

# scripts/ is not a package: load the module from its file, as the deploy script runs it.
_spec = importlib.util.spec_from_file_location(
    "shadow_checks", Path(__file__).resolve().parents[2] / "scripts" / "shadow_checks.py"
)
assert _spec and _spec.loader
shadow_checks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shadow_checks)

REPORT = {
    "shadow_version": "v3",
    "decisions": 2000,
    "agreement_rate": 0.97,
    "live_approval_rate": 0.007,
    "shadow_approval_rate": 0.033,
}


def test_shadow_approval_is_judged_against_its_own_test_split_rate(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"reference": {"approval_rate": 0.032}}))
    ref = shadow_checks.reference_rate(tmp_path)
    assert ref == 0.032
    assert shadow_checks.failures(REPORT, "v3", 1000, 0.8, (0.5, 2.0), ref) == []


def test_without_a_reference_the_live_rate_is_the_yardstick() -> None:
    bad = shadow_checks.failures(REPORT, "v3", 1000, 0.8, (0.5, 2.0), None)
    assert bad == ["shadow approval 0.033 outside [0.5, 2.0] x live 0.007"]


def test_every_unmet_criterion_is_named(tmp_path: Path) -> None:
    report = REPORT | {"decisions": 10, "agreement_rate": 0.5, "shadow_version": "v2"}
    bad = shadow_checks.failures(report, "v3", 1000, 0.8, (0.5, 2.0), 0.03)
    assert bad == [
        "the report is about 'v2', the shadow is 'v3'",
        "10 decisions < 1000",
        "agreement 0.500 < 0.8",
    ]
    assert shadow_checks.main([str(tmp_path / "missing.json"), "--version", "v3"]) == 1
