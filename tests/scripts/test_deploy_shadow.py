"""deploy_model.sh --shadow / --promote against a real sidecar serving models/current.

The shadow report is written here the way go/predictor writes it (same fields,
docs/MODEL_FORMAT.md); go/predictor/shadow_test.go checks that the predictor
writes those fields from real shadow scoring.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.scripts.conftest import Env, Sidecar

NO_FLOOR = ("--min-auc", "none")  # fixture models carry no test metrics


def write_report(env: Env, version: str, decisions: int, **kw: Any) -> None:
    report = {
        "active": True,
        "shadow_version": version,
        "live_version": "model-a",
        "decisions": decisions,
        "agreements": int(decisions * kw.get("agreement_rate", 0.95)),
        "agreement_rate": 0.95,
        "live_approval_rate": 0.30,
        "shadow_approval_rate": 0.33,
        "mean_p_diff": 0.01,
        "mean_abs_p_diff": 0.03,
        "max_abs_p_diff": 0.2,
        "dropped": 0,
        "shadow_fallbacks": 0,
        "final": False,
    } | kw
    (env.models / "shadow-report.json").write_text(json.dumps(report))


def install_shadow(env: Env) -> str:
    res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR, "--shadow")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


def test_shadow_installs_candidate_without_touching_current(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    assert install_shadow(env) == "model-b"
    assert env.current() == old
    assert (env.models / "shadow").readlink() == Path("model-b")
    assert (env.models / "model-b" / "manifest.json").is_file()
    assert env.status()["version"] == old and sidecar.proc.poll() is None


def test_shadow_is_validated_like_a_deploy(env: Env, serving: tuple[Sidecar, str]) -> None:
    bad = env.model("model-bad", seed=3)
    (bad / "model.onnx").write_bytes(b"not the graph the manifest hashes")
    res = env.deploy("--from", str(bad), *NO_FLOOR, "--shadow")
    assert res.returncode == 1
    assert not (env.models / "shadow").exists()


def test_promote_refuses_before_n_decisions_and_succeeds_after_then_rolls_back(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    install_shadow(env)
    write_report(env, "model-b", decisions=400)

    res = env.deploy("--promote")

    assert res.returncode == 1
    assert "400 decisions < 1000" in res.stderr and "agreement 0.950" in res.stderr
    assert env.current() == old and env.status()["version"] == old
    assert (env.models / "shadow").is_symlink()

    write_report(env, "model-b", decisions=1500)
    res = env.deploy("--promote")

    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "model-b"
    assert (env.models / "current").is_symlink() and env.current() == "model-b"
    assert (env.models / "previous").readlink() == Path(old)
    assert sidecar.wait_version("model-b")["pid"] == sidecar.proc.pid
    assert not (env.models / "shadow").exists()
    assert (env.models / ".backup" / f"{old}.tar.gz").is_file()

    res = env.deploy("--rollback")

    assert res.returncode == 0, res.stderr
    assert env.current() == old
    assert sidecar.wait_version(old)["pid"] == sidecar.proc.pid


def test_promote_refuses_disagreeing_shadow_and_force_overrides_with_a_log_line(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    install_shadow(env)
    write_report(env, "model-b", decisions=5000, agreement_rate=0.5, shadow_approval_rate=0.9)

    res = env.deploy("--promote")

    assert res.returncode == 1
    assert "agreement 0.500 < 0.8" in res.stderr and "outside [0.5, 2.0]" in res.stderr
    assert env.current() == old

    res = env.deploy("--promote", "--force")

    assert res.returncode == 0, res.stderr
    assert "FORCED promotion (--force)" in res.stderr
    assert env.current() == "model-b"
    sidecar.wait_version("model-b")


def test_promote_refuses_a_report_about_an_earlier_shadow(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    install_shadow(env)
    write_report(env, "model-z", decisions=5000)

    res = env.deploy("--promote")

    assert res.returncode == 1
    assert "the report is about 'model-z', the shadow is 'model-b'" in res.stderr
    assert env.current() == old


def test_promote_without_a_report_says_the_predictor_writes_it(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    install_shadow(env)
    res = env.deploy("--promote")
    assert res.returncode == 1
    assert "no shadow report" in res.stderr


def test_promote_refuses_a_shadow_in_another_feature_order_than_current(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    install_shadow(env)  # model-b, in model-a's order
    swapped = env.model("model-c", seed=3, features=("depth_ratio", "tick_ratio", "price_dist"))
    res = env.deploy("--from", str(swapped), *NO_FLOOR, "--force")  # current changes order
    assert res.returncode == 0, res.stderr[-3000:]
    write_report(env, "model-b", 5000)

    res = env.deploy("--promote")

    assert res.returncode == 1, res.stderr[-3000:]
    assert "model-b takes another feature order than model-c" in res.stderr
    assert env.current() == "model-c"
