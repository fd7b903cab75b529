"""deploy_model.sh against hostile manifests, a lost pidfile, no Python, and SIGKILL
at random points, with a real sidecar and real fixture models."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.scripts.conftest import PYTHON, ROOT, Env, Sidecar, tree

NO_FLOOR = ("--min-auc", "none")  # fixture models carry no test metrics
FAST = (*NO_FLOOR, "--skip-smoke", "--no-restart")


def edit_manifest(model: Path, change: Any) -> None:
    path = model / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2))


def scratch(env: Env) -> list[str]:
    """What a deploy must never leave behind: temp dirs, link temps, scratch dirs."""
    left = [p.name for p in env.tmp.glob("sigmagate-deploy.*")]
    for pattern in (".*.tmp.*", ".incoming-*", ".publish-*", ".restore-*"):
        left += [p.name for p in env.models.glob(pattern)]
    return left


@pytest.mark.parametrize("flags", [FAST, NO_FLOOR], ids=["skip-smoke-no-restart", "full"])
def test_version_that_leaves_models_dir_is_refused(
    env: Env, serving: tuple[Sidecar, str], flags: tuple[str, ...]
) -> None:
    _, old = serving
    b = env.model("model-b", seed=2)
    edit_manifest(b, lambda m: m.update(version="../escaped-version"))
    outside_before = sorted(p.name for p in env.models.parent.iterdir())
    before, status_before = tree(env.models), env.status()

    res = env.deploy("--from", str(b), *flags)

    assert res.returncode == 1
    assert "field 'version' is '../escaped-version'; a version must be a plain name" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert sorted(p.name for p in env.models.parent.iterdir()) == outside_before
    assert tree(env.models) == before and env.current() == old
    assert env.status() == status_before
    assert scratch(env) == []


def _wrong_unserved_sha(m: Path) -> str:
    edit_manifest(m, lambda d: d["variants"]["fp16"].update(sha256="0" * 64))
    return "model.fp16.onnx: sha256"


def _truncated(m: Path) -> str:
    data = (m / "model.onnx").read_bytes()
    (m / "model.onnx").write_bytes(data[: len(data) // 2])
    return "model.onnx: sha256"


def _dotdot_variant(m: Path) -> str:
    def change(d: dict[str, Any]) -> None:
        d["variants"]["int8"] = {"file": "..", "sha256": "0" * 64, "accepted": False,
                                 "reason": "not served"}  # fmt: skip

    edit_manifest(m, change)
    return "field 'variants.int8.file' must be a plain 'file' name"


def _wrong_check_vectors(m: Path) -> str:
    edit_manifest(m, lambda d: d["check_vectors"].update(sha256="1" * 64))
    return "check_vectors.sha256"


@pytest.mark.parametrize(
    "spoil", [_wrong_unserved_sha, _truncated, _dotdot_variant, _wrong_check_vectors]
)
def test_every_file_is_checked_even_with_skip_smoke_and_no_restart(
    env: Env, serving: tuple[Sidecar, str], spoil: Any
) -> None:
    _, old = serving
    b = env.model("model-b", seed=2)
    expected = spoil(b)
    before = tree(env.models)

    res = env.deploy("--from", str(b), *FAST)

    assert res.returncode == 1, res.stderr
    assert expected in res.stderr
    assert f"validation of {b} failed" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert tree(env.models) == before


def test_sidecar_refuses_a_pidfile_a_live_sidecar_holds_and_takes_over_a_stale_one(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, _ = serving
    second = subprocess.run(
        [PYTHON, "-m", "infer", "--model", str(env.models / "current"),
         "--pidfile", str(env.pidfile)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"held by running process {sidecar.proc.pid}" in second.stderr
    assert env.pidfile.read_text().strip() == str(sidecar.proc.pid), "left as it was"

    # The live one is still reachable: a deploy reloads it.
    res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR, "--skip-smoke")
    assert res.returncode == 0, res.stderr
    assert sidecar.wait_version("model-b")["pid"] == sidecar.proc.pid

    # A pidfile naming a dead process (a killed sidecar's) is taken over.
    sidecar.stop()
    stale = env.run / "stale.pid"
    stale.write_text(f"{sidecar.proc.pid}\n")  # stopped and reaped: a dead pid
    third = subprocess.Popen(
        [PYTHON, "-m", "infer", "--model", str(env.models / "current"), "--pidfile", str(stale)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while stale.read_text().strip() != str(third.pid) and time.monotonic() < deadline:
            assert third.poll() is None, third.stderr.read() if third.stderr else ""
            time.sleep(0.05)
        assert stale.read_text().strip() == str(third.pid)
    finally:
        assert third.stdin is not None
        third.stdin.close()
        third.wait(timeout=20)
    assert not stale.exists(), "removed at exit: it held this process's pid"


def test_deploy_that_cannot_reach_the_serving_sidecar_fails_before_switching(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    env.pidfile.unlink()  # lost: removed by hand, or by a process that should not have
    links_before, status_before = _links(env), env.status()

    res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR, "--skip-smoke")

    assert res.returncode == 1
    assert f"a sidecar (pid {sidecar.proc.pid}, per {env.status_file}) serves" in res.stderr
    assert "the bot was NOT reached" in res.stderr and "nothing was switched" in res.stderr
    assert "done:" not in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert _links(env) == links_before and env.status() == status_before


def _links(env: Env) -> dict[str, str]:
    return {p.name: os.readlink(p) for p in env.models.iterdir() if p.is_symlink()}


def test_next_run_repairs_a_sidecar_left_on_the_old_version(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    sidecar, old = serving
    b = env.model("model-b", seed=2)
    assert env.deploy("--from", str(b), *FAST).returncode == 0  # as a kill before SIGHUP
    assert env.current() == "model-b" and env.status()["version"] == old

    res = env.deploy("--from", str(b), *NO_FLOOR, "--skip-smoke")

    assert res.returncode == 0, res.stderr
    assert f"current is model-b but the sidecar (pid {sidecar.proc.pid}) serves {old}" in res.stderr
    assert "nothing to switch" not in res.stderr
    assert env.status()["version"] == "model-b" and not env.status()["last_error"]
    res = env.deploy("--from", str(b), *NO_FLOOR, "--skip-smoke")
    assert res.returncode == 0 and "serves it; nothing to switch" in res.stderr


def test_rollback_works_without_python(env: Env, serving: tuple[Sidecar, str]) -> None:
    sidecar, old = serving
    assert env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR).returncode == 0
    sidecar.wait_version("model-b")

    res = env.deploy("--rollback", SIGMAGATE_PYTHON="/nonexistent/python")

    assert res.returncode == 0, res.stderr
    assert f"files of {old} match" in res.stderr
    assert res.stdout.strip().splitlines()[-1] == old
    assert env.current() == old
    assert env.status()["version"] == old and env.status()["pid"] == sidecar.proc.pid
    # A corrupted file is caught by the checksum list, still without Python.
    target = env.models / "model-b" / "model.onnx"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:-1])
    res = env.deploy("--rollback", SIGMAGATE_PYTHON="/nonexistent/python")
    assert res.returncode == 1
    assert "files differ from" in res.stderr and ".sums/model-b.sha256" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr


def test_rollback_into_a_missing_models_dir_is_an_error_and_creates_nothing(env: Env) -> None:
    typo = env.models.parent / "typo" / "models"
    for mode in (("--rollback",), ("--promote",)):
        res = env.deploy(*mode, "--models-dir", str(typo))
        assert res.returncode == 2
        assert f"--models-dir {typo} does not exist" in res.stderr
        assert not typo.parent.exists()


def _lock_held_for(lock: Path, limit: float = 2.0) -> float:
    """Seconds until the deploy lock can be taken (0.0 when it is free at once)."""
    start = time.monotonic()
    with open(lock, "a") as fh:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() - start > limit:
                    return limit
                time.sleep(0.001)
                continue
            fcntl.flock(fh, fcntl.LOCK_UN)
            return time.monotonic() - start


def test_deploy_killed_at_random_points_is_completed_by_the_next_run(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    """SIGKILL a deploy (with a running sidecar and its SIGHUP) at a random point, then
    run it again: current and the served version agree, nothing is left over, and the
    lock is free as soon as the killed script is gone."""
    sidecar, _ = serving
    src = {"model-a": env.models.parent / "incoming" / "model-a"}
    src |= {v: env.model(v, seed=s) for v, s in (("model-b", 2), ("model-c", 3))}

    def args(v: str) -> tuple[str, ...]:
        return ("--from", str(src[v]), *NO_FLOOR, "--skip-smoke")

    t0 = time.monotonic()
    assert env.deploy(*args("model-b")).returncode == 0
    duration = time.monotonic() - t0
    rng = random.Random(20261203)
    order = ["model-c", "model-a", "model-b"]
    iterations, mismatches, leaks, lock_waits = 30, 0, [], []
    started = time.monotonic()
    wrong_previous = 0
    for i in range(iterations):
        v = order[i % 3]
        before = env.current()
        proc = subprocess.Popen(
            env.argv(*args(v)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env.environ(), cwd=ROOT,
        )  # fmt: skip
        time.sleep(rng.uniform(0, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lock_waits.append(_lock_held_for(env.models / ".deploy.lock"))

        res = env.deploy(*args(v))

        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().splitlines()[-1] == v
        served = env.status()
        if env.current() != v or served["version"] != v or served["last_error"]:
            mismatches += 1
        # Wherever the kill fell, previous names what was current before it.
        wrong_previous += (env.models / "previous").readlink() != Path(str(before))
        leaks += scratch(env)
    elapsed = time.monotonic() - started
    logs = [p.read_text() for p in env.logs.glob("deploy-*.log")]
    repaired = sum("an earlier deploy did not finish" in text for text in logs)
    cleaned = sum(text.count("no longer running") for text in logs)
    print(
        f"\nkill test: {iterations} iterations (deploy {duration:.2f} s), {mismatches} "
        f"mismatches, {len(leaks)} leftovers, lock held after kill max "
        f"{max(lock_waits) * 1000:.1f} ms, {elapsed:.1f} s; the next run repaired the "
        f"sidecar {repaired} times and removed {cleaned} stale scratch entries"
    )
    assert mismatches == 0
    assert wrong_previous == 0
    assert leaks == []
    assert max(lock_waits) < 0.1, lock_waits
    assert sidecar.proc.poll() is None
    assert os.path.realpath(env.models / "current").startswith(str(env.models))


def test_a_deploy_refused_for_the_lock_says_where_current_is(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    with open(env.models / ".deploy.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR)
    assert res.returncode == 1
    assert "another deploy holds" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr


def test_a_current_naming_a_missing_version_is_not_made_previous(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    (env.models / "current").unlink()
    (env.models / "current").symlink_to("gone")
    res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR, "--no-restart")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "current named gone, which is not in" in res.stderr
    assert env.current() == "model-b"
    prev = env.models / "previous"
    assert not prev.is_symlink() or os.readlink(prev) != "gone"


@pytest.mark.parametrize("name", ["current", "previous"])
def test_a_real_directory_where_a_link_belongs_is_refused_before_anything_changes(
    env: Env, name: str
) -> None:
    copy = env.models / name
    copy.mkdir(parents=True)
    (copy / "manifest.json").write_text("{}")
    before = tree(env.models)
    for args in (("--from", str(env.model("model-b", seed=2)), *FAST), ("--rollback", "model-b")):
        res = env.deploy(*args)
        assert res.returncode == 1, res.stderr[-3000:]
        assert f"{copy} is a directory, not a symbolic link" in res.stderr
        assert "nothing was changed" in res.stderr
        assert tree(env.models) == before


def _lower_threshold(m: dict[str, Any]) -> None:
    m["metrics"] = {"test": {"threshold": 0.05}}
    m["default_threshold"] = 0.05


def test_a_published_version_edited_in_place_cannot_be_deployed_again(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    assert env.deploy("--from", str(env.model("model-b", seed=2)), *FAST).returncode == 0
    sums = (env.models / ".sums" / f"{old}.sha256").read_text()
    (env.models / old / "manifest.json").chmod(0o644)
    edit_manifest(env.models / old, _lower_threshold)  # valid on its own: hashes still agree

    res = env.deploy("--from", str(env.models / old), *FAST)

    assert res.returncode == 1, res.stderr[-3000:]
    assert f"{env.models / old} already exists with different content" in res.stderr
    assert env.current() == "model-b"
    assert (env.models / ".sums" / f"{old}.sha256").read_text() == sums


def test_a_pruned_version_name_cannot_come_back_with_other_files(env: Env) -> None:
    for i, v in enumerate(("model-v", "model-w", "model-x", "model-y")):
        res = env.deploy("--from", str(env.model(v, seed=i + 1)), *FAST, "--keep", "2")
        assert res.returncode == 0, res.stderr[-3000:]
    assert not (env.models / "model-v").exists()  # pruned; its backup and checksums kept
    impostor = env.cache.copy(env.tmp.parent / "elsewhere", "model-v", seed=9)

    res = env.deploy("--from", str(impostor), *FAST)

    assert res.returncode == 1, res.stderr[-3000:]
    assert "model-v was published before with other files" in res.stderr
    assert env.current() == "model-y" and not (env.models / "model-v").exists()
    res = env.deploy("--rollback", "model-v", "--no-restart")  # the genuine one, from its backup
    assert res.returncode == 0, res.stderr[-3000:]
    assert env.current() == "model-v"


def test_a_model_directory_holding_a_link_is_refused(env: Env) -> None:
    b = env.model("model-b", seed=2)
    outside = env.tmp.parent / "graph.onnx"
    (b / "model.onnx").rename(outside)
    (b / "model.onnx").symlink_to(outside)
    res = env.deploy("--from", str(b), *FAST)
    assert res.returncode == 1, res.stderr[-3000:]
    assert "model.onnx is not a regular file" in res.stderr
    assert env.current() is None and not (env.models / "model-b").exists()
    # --from naming a link to a model directory is fine: its files are copied.
    link = env.tmp.parent / "linked"
    link.symlink_to(env.model("model-c", seed=3))
    res = env.deploy("--from", str(link), *FAST)
    assert res.returncode == 0, res.stderr[-3000:]
    published = env.models / "model-c"
    assert published.is_dir() and not published.is_symlink() and env.current() == "model-c"


def test_a_deploy_that_switched_exits_zero_even_if_its_history_cannot_be_written(
    env: Env,
) -> None:
    (env.models / ".deploy_history").mkdir()  # appending to it fails
    res = env.deploy("--from", str(env.model("model-b", seed=2)), *FAST)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip() == "model-b" and env.current() == "model-b"
    assert "WARNING: cannot append to" in res.stderr


def test_a_current_link_by_absolute_path_is_read_as_its_version(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    (env.models / "current").unlink()
    (env.models / "current").symlink_to(env.models / old)  # as a person might write it

    res = env.deploy("--from", str(env.model("model-b", seed=2)), *NO_FLOOR)

    assert res.returncode == 0, res.stderr[-3000:]
    assert f"switched current: {old} -> model-b" in res.stderr
    assert (env.models / "previous").readlink() == Path(old)
    assert (env.models / ".backup" / f"{old}.tar.gz").is_file()


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_kept(env: Env) -> None:
    target = env.tmp.parent / "precious.txt"
    target.write_text("keep me")
    (env.models / ".deploy.lock").symlink_to(target)
    res = env.deploy("--from", str(env.model("model-b", seed=2)), *FAST)
    assert res.returncode == 1, res.stderr[-3000:]
    assert ".deploy.lock is a symbolic link" in res.stderr
    assert target.read_text() == "keep me" and env.current() is None
