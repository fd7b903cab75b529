"""deploy_args.sh keeps its own copy of the promotion defaults (a rollback must run
without Python); these tests tie the copy, and the --help text, to modelformat/defaults.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from modelformat import defaults

ROOT = Path(__file__).resolve().parents[2]


def _shell_defaults() -> dict[str, str]:
    script = (
        'ROOT=/nonexistent; PY=false; source "$1"; '
        'echo "$MIN_DECISIONS $MIN_AGREEMENT $APPROVAL_BAND"'
    )
    out = subprocess.run(
        ["bash", "-c", script, "_", str(ROOT / "scripts" / "deploy_args.sh")],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return dict(zip(("decisions", "agreement", "band"), out, strict=True))


def test_deploy_args_promotion_defaults_equal_modelformat() -> None:
    got = _shell_defaults()
    assert int(got["decisions"]) == defaults.PROMOTE_MIN_DECISIONS
    assert float(got["agreement"]) == defaults.PROMOTE_MIN_AGREEMENT
    low, high = (float(x) for x in got["band"].split(","))
    assert (low, high) == (defaults.PROMOTE_APPROVAL_LOW, defaults.PROMOTE_APPROVAL_HIGH)


def test_deploy_help_states_the_same_defaults() -> None:
    out = subprocess.run(
        [str(ROOT / "scripts" / "deploy_model.sh"), "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"(default {defaults.PROMOTE_MIN_DECISIONS})" in text
    assert f"(default {defaults.PROMOTE_MIN_AGREEMENT:g})" in text
    band = f"{defaults.PROMOTE_APPROVAL_LOW:g},{defaults.PROMOTE_APPROVAL_HIGH:g}"
    assert f"default {band})" in text
    assert f"DEFAULT_MIN_AUC, {defaults.DEFAULT_MIN_AUC:g};" in text
