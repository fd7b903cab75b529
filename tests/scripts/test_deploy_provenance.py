"""A model trained on simulated data never reaches a models directory that serves a real
bot: deploy, --shadow, --promote and --rollback refuse it there without --allow-simulated;
a sandbox directory (a .sandbox file, as the demo's) takes it. Real deploy_model.sh runs."""

from __future__ import annotations

import json
import subprocess

from tests.scripts.conftest import Env


def _deploy(env: Env, *args: str):
    return env.deploy(*args, "--min-auc", "none", "--no-restart", "--skip-smoke")


def test_simulated_model_is_refused_in_a_real_models_dir(env: Env) -> None:
    sim = env.model("sim-a", seed=1, provenance="simulated")
    res = _deploy(env, "--from", str(sim))
    assert res.returncode == 1, res.stderr
    assert "sim-a was trained on simulated data" in res.stderr
    assert "--allow-simulated" in res.stderr
    assert env.current() is None
    assert not (env.models / "sim-a").exists(), "refused before publishing"

    res = _deploy(env, "--from", str(sim), "--shadow")
    assert res.returncode == 1 and "simulated data" in res.stderr, res.stderr
    assert not (env.models / "shadow").exists()


def test_allow_simulated_and_sandbox_dirs_take_it(env: Env) -> None:
    sim = env.model("sim-a", seed=1, provenance="simulated")
    res = _deploy(env, "--from", str(sim), "--allow-simulated")
    assert res.returncode == 0, res.stderr
    assert "putting it in" in res.stderr and env.current() == "sim-a"

    sandbox = env.models.parent / "sandbox"
    sandbox.mkdir()
    (sandbox / ".sandbox").touch()
    argv = env.argv("--from", str(env.model("sim-b", seed=2, provenance="simulated")))
    argv[argv.index("--models-dir") + 1] = str(sandbox)
    res = subprocess.run(
        [*argv, "--min-auc", "none", "--no-restart", "--skip-smoke"],
        capture_output=True, text=True, env=env.environ(), timeout=120,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "is a sandbox" in res.stderr
    assert (sandbox / "current").readlink().name == "sim-b"


def test_exported_and_legacy_models_deploy_as_before(env: Env) -> None:
    res = _deploy(env, "--from", str(env.model("real-a", seed=1, provenance="exported")))
    assert res.returncode == 0, res.stderr
    res = _deploy(env, "--from", str(env.model("old-b", seed=2)))  # no provenance field
    assert res.returncode == 0, res.stderr
    assert env.current() == "old-b"


def test_rollback_to_a_simulated_previous_is_refused(env: Env) -> None:
    """The demo-then-real-deploy accident: previous is a simulated model."""
    sim = env.model("sim-a", seed=1, provenance="simulated")
    assert _deploy(env, "--from", str(sim), "--allow-simulated").returncode == 0
    res = _deploy(env, "--from", str(env.model("real-b", seed=2, provenance="exported")))
    assert res.returncode == 0, res.stderr
    assert (env.models / "previous").readlink().name == "sim-a"

    res = env.deploy("--rollback", "--no-restart")
    assert res.returncode == 1, res.stderr
    assert "--rollback: sim-a was trained on simulated data" in res.stderr
    assert env.current() == "real-b"
    assert json.loads((env.models / "real-b" / "manifest.json").read_text())["version"] == "real-b"

    res = env.deploy("--rollback", "--no-restart", "--allow-simulated")
    assert res.returncode == 0, res.stderr
    assert env.current() == "sim-a"


def test_a_simulated_provenance_spelled_with_json_escapes_is_read_as_such(env: Env) -> None:
    sim = env.model("sim-e", seed=1, provenance="simulated")
    path = sim / "manifest.json"
    text = path.read_text()
    assert '"provenance": "simulated"' in text
    path.write_text(text.replace('"provenance": "simulated"', '"provenance": "\\u0073imulated"'))
    assert json.loads(path.read_text())["data"]["provenance"] == "simulated"

    res = _deploy(env, "--from", str(sim))

    assert res.returncode == 1, res.stderr
    assert "sim-e was trained on simulated data" in res.stderr
    assert env.current() is None
