"""deploy_model.sh through its real front half: BoltDB export and `train fit`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.scripts.conftest import PYTHON, ROOT, Env, Sidecar, tree


@pytest.fixture(scope="module")
def gendb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bot simulator, built once."""
    out = tmp_path_factory.mktemp("bin") / "gendb"
    subprocess.run(["go", "build", "-o", str(out), "./cmd/gendb"], cwd=ROOT / "go", check=True)
    return out


def test_deploy_exports_boltdb_trains_and_sidecar_serves_the_new_model(
    env: Env, serving: tuple[Sidecar, str], gendb: Path
) -> None:
    sidecar, old = serving
    db = env.models.parent / "bot.db"
    subprocess.run(
        [str(gendb), "-db", str(db), "-hours", "4", "-symbols", "BTCUSDT,ETHUSDT", "-seed", "3",
         "-corrupt", "2"],
        check=True, capture_output=True,
    )  # fmt: skip

    # gendb's records are simulated: this models dir is a sandbox, as the demo's is.
    (env.models / ".sandbox").touch()
    # The fixture model serving now has no test-split figures to be compared with:
    # freshness off (tests/scripts/test_deploy_freshness.py covers it).
    res = env.deploy("-b", str(db), "-d", "1", "--search", "fast", "--fresh-window", "0")

    assert res.returncode == 0, res.stderr[-4000:]
    new = res.stdout.strip().splitlines()[-1]
    assert new != old and env.current() == new
    manifest = json.loads((env.models / new / "manifest.json").read_text())
    assert manifest["version"] == new
    assert manifest["metrics"]["test"]["auc"] >= 0.55
    assert (env.models / new / "report.md").is_file()
    assert "export:" in res.stderr and "smoke test: ok" in res.stderr
    status = sidecar.wait_version(new)
    assert not status["last_error"]
    assert not list(env.models.glob(".incoming-*")), "no scratch directory left behind"

    res = env.deploy("-b", str(db), "-s", "DOGEUSDT", "--no-restart")
    assert res.returncode == 1 and "found no records for symbol DOGEUSDT" in res.stderr, res.stderr
    assert env.current() == new


def test_failed_training_gate_leaves_current_untouched(
    env: Env, serving: tuple[Sidecar, str]
) -> None:
    _, old = serving
    data = env.models.parent / "noise.jsonl"
    subprocess.run(
        [PYTHON, "-m", "train", "sample", "--out", str(data), "--rows", "4000",
         "--signal", "none", "--seed", "5"],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    before, status_before = tree(env.models), env.status()

    # Features independent of the future: no honest model reaches AUC 0.6.
    res = env.deploy(
        "--data", str(data), "--search", "fast", "--min-auc", "0.6", "--train-arg", "--no-report",
        "--fresh-window", "0",  # 4,000 records span less than the window: nothing to hold out
    )  # fmt: skip

    assert res.returncode == 1, res.stderr[-4000:]
    assert "quality gate failed" in res.stderr and "AUC" in res.stderr
    assert f"models/current is unchanged: {old}" in res.stderr
    assert tree(env.models) == before
    assert env.status() == status_before
