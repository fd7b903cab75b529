"""scripts/deploy_model.sh against a temporary models directory and a real sidecar."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.scripts.conftest import PYTHON, ROOT, Env, Sidecar, tree

NO_FLOOR = ("--min-auc", "none")  # fixture models carry no test metrics
SWAPPED = ("depth_ratio", "tick_ratio", "price_dist")


def test_deploy_switches_current_and_hot_reloads_the_running_sidecar(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    pid_before = env.status()["pid"]
    b = env.model("model-b", seed=2)

    res = env.deploy("--from", str(b), *NO_FLOOR)

    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == "model-b"
    assert env.current() == "model-b"
    assert (env.models / "previous").readlink() == Path(old)
    status = env.status()
    assert status["version"] == "model-b" and not status["last_error"]
    assert status["pid"] == pid_before, "the sidecar was reloaded in place, not restarted"
    assert sidecar.proc.poll() is None
    assert tree(env.models / "model-b") == tree(b)  # published unchanged
    assert (env.models / ".backup" / f"{old}.tar.gz").is_file()
    logs = list(env.logs.glob("deploy-*.log"))
    assert logs and any("done: current is model-b" in p.read_text() for p in logs)


def test_metric_floor_failure_leaves_current_untouched(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    before, status_before = tree(env.models), env.status()
    b = env.model("model-b", seed=2)  # has no metrics.test.auc, so no floor can be met

    res = env.deploy("--from", str(b), "--min-auc", "0.6")

    assert res.returncode == 1
    assert "metrics.test.auc is missing" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert tree(env.models) == before
    assert env.status() == status_before


def test_a_model_of_another_feature_order_needs_force(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    """A bot that declares its feature order refuses every decision of a model that takes
    another, and nothing else would stop that deploy: the script does, unless --force."""
    _, old = serving
    before = tree(env.models)
    b = env.model("model-b", seed=2, features=SWAPPED)  # trained on that order

    res = env.deploy("--from", str(b), *NO_FLOOR, "--no-restart")

    assert res.returncode == 1, res.stderr[-3000:]
    assert "model-b takes the features ['depth_ratio', 'tick_ratio'" in res.stderr
    assert "would refuse every decision" in res.stderr and "--force" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert tree(env.models) == before

    res = env.deploy("--from", str(b), *NO_FLOOR, "--no-restart", "--force")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "FORCED (--force): model-b takes another feature order" in res.stderr
    assert env.current() == "model-b"


def test_validation_refuses_model_whose_file_does_not_match_manifest(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    before, status_before = tree(env.models), env.status()
    b = _model_with_swapped_file(env)

    res = env.deploy("--from", str(b), *NO_FLOOR)

    assert res.returncode == 1
    assert f"validation of {b} failed" in res.stderr
    assert "does not match the manifest's" in res.stderr and "variants.fp32.sha256" in res.stderr
    assert "smoke test" not in res.stderr
    assert tree(env.models) == before
    assert env.status() == status_before, "the running sidecar was never signalled"


def test_sidecar_refusing_new_model_triggers_automatic_rollback(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    old_tree = tree(env.models / old)
    # --skip-smoke: the deploy's own checks pass (manifest, names, every sha256), so the
    # running sidecar's load is the one that refuses: the last line of defence.
    b = _model_with_unloadable_file(env)

    res = env.deploy("--from", str(b), *NO_FLOOR, "--skip-smoke")

    assert res.returncode == 1
    assert "sidecar refused version model-b" in res.stderr
    assert "automatic rollback" in res.stderr
    assert env.current() == old
    status = sidecar.wait_version(old)
    assert not status["last_error"], "rollback reload succeeded"
    assert sidecar.proc.poll() is None
    assert tree(env.models / old) == old_tree
    assert "rolled-back" in (env.models / ".deploy_history").read_text()


def test_sidecar_that_does_not_confirm_in_time_is_rolled_back(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    b = env.model("model-b", seed=2)
    loaded_before = env.status()["loaded_at"]
    os.kill(sidecar.proc.pid, signal.SIGSTOP)  # hung: signals stay pending, nothing answers
    try:
        res = env.deploy("--from", str(b), *NO_FLOOR, "--reload-timeout", "2")
    finally:
        os.kill(sidecar.proc.pid, signal.SIGCONT)

    assert res.returncode == 1
    assert "did not report version model-b within 2 s" in res.stderr
    assert env.current() == old
    # Once it runs again it handles the pending SIGHUP and loads current: the old model.
    deadline = time.monotonic() + 20
    while env.status()["loaded_at"] == loaded_before and time.monotonic() < deadline:
        time.sleep(0.05)
    status = env.status()
    assert status["loaded_at"] != loaded_before, "the pending SIGHUP was handled"
    assert status["version"] == old and not status["last_error"]


def test_rollback_restores_previous_version_byte_identical(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    old_tree = tree(env.models / old)
    assert env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR).returncode == 0

    res = env.deploy("--rollback")

    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == old
    assert env.current() == old
    assert tree(env.models / old) == old_tree
    assert sidecar.wait_version(old)["pid"] == sidecar.proc.pid
    # Rolling back again returns to the version we left: previous now names it.
    assert (env.models / "previous").readlink() == Path("model-b")


def test_rollback_to_pruned_version_restores_it_from_backup(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    old_tree = tree(env.models / old)
    for i, v in enumerate(("model-b", "model-c", "model-d"), start=2):
        res = env.deploy("--from", str(env.model(v, seed=i)), *NO_FLOOR, "--keep", "2")
        assert res.returncode == 0, res.stderr
    # keep 2 = the newest two; current (d) and previous (c) are among them.
    assert sorted(p.name for p in env.models.iterdir() if not p.name.startswith(".")) == [
        "current", "model-c", "model-d", "previous",
    ]  # fmt: skip

    res = env.deploy("--rollback", old)

    assert res.returncode == 0, res.stderr
    assert f"restoring {old} from" in res.stderr
    assert tree(env.models / old) == old_tree
    assert env.current() == old
    sidecar.wait_version(old)
    # The restored version is the oldest on disk, yet as `previous` it survives pruning.
    res = env.deploy("--from", str(env.model("model-e", seed=5)), *NO_FLOOR, "--keep", "2")
    assert res.returncode == 0, res.stderr
    assert (env.models / "previous").readlink() == Path(old)
    assert (env.models / old).is_dir() and not (env.models / "model-c").exists()


def test_dry_run_changes_nothing(env: Env, serving: tuple[Sidecar, str]) -> None:
    _, old = serving
    assert env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR).returncode == 0
    before, status_before = tree(env.models), env.status()
    c = env.model("model-c", seed=3)

    deploy = env.deploy("--from", str(c), *NO_FLOOR, "--dry-run")
    rollback = env.deploy("--rollback", "--dry-run")

    assert deploy.returncode == 0, deploy.stderr
    assert "would switch current model-b -> model-c" in deploy.stderr
    assert rollback.returncode == 0, rollback.stderr
    assert f"would switch current model-b -> {old}" in rollback.stderr
    assert tree(env.models) == before
    assert env.status() == status_before


def _model_with_swapped_file(env: Env) -> Path:
    """Model B whose model.onnx was replaced by another real model's file after its
    manifest was written: valid ONNX, present, but not the bytes the manifest vouches for."""
    b = env.model("model-b", seed=2)
    other = env.model("model-x", seed=9)
    (b / "model.onnx").unlink()
    shutil.copyfile(other / "model.onnx", b / "model.onnx")
    return b


def _model_with_unloadable_file(env: Env) -> Path:
    """Model B whose model.onnx is not an ONNX graph, with a manifest that vouches for
    exactly these bytes: every file check passes, only loading it fails."""
    b = env.model("model-b", seed=2)
    blob = b"not an onnx graph"
    (b / "model.onnx").write_bytes(blob)
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["variants"]["fp32"] |= {"sha256": hashlib.sha256(blob).hexdigest(), "bytes": len(blob)}
    (b / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return b


def test_deploy_from_artifact_directory_publishes_it_under_its_version(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, _ = serving
    download = env.models.parent / "downloads" / "model-artifact"
    shutil.copytree(env.model("model-b", seed=2), download)

    res = env.deploy("--from", str(download), *NO_FLOOR)

    assert res.returncode == 0, res.stderr
    assert env.current() == "model-b"
    assert tree(env.models / "model-b") == tree(download)
    sidecar.wait_version("model-b")


def _edit_manifest(model: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = model / "manifest.json"
    path.chmod(0o644)
    man = json.loads(path.read_text())
    edit(man)
    path.write_text(json.dumps(man, indent=2))


def test_a_manifest_that_no_longer_matches_its_graph_is_refused(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    """Edits whose hashes still agree: the manifest vouches for the other files, not for
    itself. Training wrote the check vectors, the graph and the metrics together."""
    _, old = serving
    before = tree(env.models)

    def reorder(m: dict[str, Any]) -> None:
        m["features"] = list(SWAPPED)
        m["feature_stats"] = {f: m["feature_stats"][f] for f in SWAPPED}

    def lower_threshold(m: dict[str, Any]) -> None:
        m["metrics"] = {"test": {"threshold": m["default_threshold"]}}
        m["default_threshold"] = 0.05

    for name, edit, want in (
        ("model-r", reorder, "check_vectors.json: field 'features' is ['tick_ratio'"),
        ("model-t", lower_threshold, "default_threshold 0.05 is not the threshold"),
    ):
        m = env.model(name, seed=2)
        _edit_manifest(m, edit)
        res = env.deploy("--from", str(m), *NO_FLOOR)  # a first deploy would not compare orders
        assert res.returncode == 1, (name, res.stderr[-3000:])
        assert want in res.stderr and f"validation of {m} failed" in res.stderr, res.stderr[-3000:]
        assert f"models/current is unchanged: {old}" in res.stderr
        assert tree(env.models) == before

    # Another model's graph with the manifest's hash updated to match: every file check
    # passes; the check vectors, scored by the smoke test's sidecar, do not.
    g = env.model("model-g", seed=2)
    other = env.model("model-y", seed=9)
    (g / "model.onnx").unlink()
    shutil.copyfile(other / "model.onnx", g / "model.onnx")
    sha = hashlib.sha256((g / "model.onnx").read_bytes()).hexdigest()
    _edit_manifest(g, lambda m: m["variants"]["fp32"].update(sha256=sha))
    res = env.deploy("--from", str(g), *NO_FLOOR)
    assert res.returncode == 1, res.stderr[-3000:]
    assert "check vectors scored differently from training" in res.stderr, res.stderr[-3000:]
    assert "smoke test of model-g failed" in res.stderr
    assert tree(env.models) == before


def test_smoke_test_checks_another_variant_that_answers_as_the_served_one(env: Env) -> None:
    """A variant recorded as answering exactly as the served one (max_abs_dp 0 for both,
    as a tree ensemble's are) is held to the check vectors too, when the sidecar serves it."""

    def smoke(model: Path) -> subprocess.CompletedProcess[str]:
        argv = [PYTHON, str(ROOT / "scripts" / "smoke_test.py"), str(model), "--variant", "fp16"]
        return subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)

    def with_fp16(model: Path, graph: Path) -> Path:
        (model / "model.fp16.onnx").unlink()
        shutil.copyfile(graph, model / "model.fp16.onnx")
        sha = hashlib.sha256(graph.read_bytes()).hexdigest()

        def same(m: dict[str, Any]) -> None:
            m["variants"]["fp16"].update(sha256=sha, max_abs_dp=0.0)
            m["variants"]["fp32"].update(max_abs_dp=0.0)

        _edit_manifest(model, same)
        return model

    model = env.model("model-s", seed=2)
    own = with_fp16(model, model / "model.onnx")
    res = smoke(own)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["variant"] == "fp16" and out["check_vectors"] > 0
    foreign = with_fp16(env.model("model-f", seed=2), env.model("model-y", seed=9) / "model.onnx")
    res = smoke(foreign)
    assert res.returncode == 1
    assert "check vectors scored differently from training" in res.stderr, res.stderr[-3000:]


def test_rollback_refuses_a_version_edited_after_publication(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    """With Python the rollback checks more than without it, never less: the checksums
    written at publication cover manifest.json, and are never rewritten to fit an edit."""
    _, old = serving
    assert env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR).returncode == 0
    sums = (env.models / ".sums" / f"{old}.sha256").read_text()
    _edit_manifest(env.models / old, lambda m: m.update(default_threshold=0.05))

    res = env.deploy("--rollback")

    assert res.returncode == 1, res.stderr[-3000:]
    assert f"files differ from {env.models}/.sums/{old}.sha256" in res.stderr
    assert "models/current is unchanged: model-b" in res.stderr
    assert env.current() == "model-b"
    assert (env.models / ".sums" / f"{old}.sha256").read_text() == sums


def test_a_rollback_that_changes_the_feature_order_needs_force(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    b = env.model("model-b", seed=2, features=SWAPPED)
    assert env.deploy("--from", str(b), *NO_FLOOR, "--force").returncode == 0

    res = env.deploy("--rollback")

    assert res.returncode == 1, res.stderr[-3000:]
    assert f"{old} takes another feature order than model-b" in res.stderr
    assert "--force" in res.stderr
    assert env.current() == "model-b"
    res = env.deploy("--rollback", "--force")
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"FORCED (--force): {old} takes another feature order" in res.stderr
    assert env.current() == old
