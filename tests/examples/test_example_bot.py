"""README's "Integrate your bot", followed: build go/examples/bot, run it against a model,
and read back what it recorded through the real exporter and train's reader."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.fixtures.tiny_model import build_model_dir
from tests.infer.sidecar import python
from train.data.load import read_records
from train.data.provenance import detect

ROOT = Path(__file__).resolve().parents[2]
PYTHON = python()
LINE = re.compile(
    r"decision (\d+): BTCUSDT approve=(true|false) p=([0-9.]+) threshold=([0-9.e-]+) "
    r'by=(\w+) model="([^"]*)" latency=\S+'
)

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs Go")


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("bin")
    built = {}
    for name, pkg in (("bot", "./examples/bot"), ("export", "./cmd/export")):
        built[name] = out / name
        subprocess.run(["go", "build", "-o", str(built[name]), pkg], cwd=ROOT / "go", check=True,
                       timeout=300)  # fmt: skip
    return built


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("models"), "bot-model", seed=3,
                           link_current=True).parent / "current"  # fmt: skip


def _bot(tools: dict[str, Path], model: Path, db: Path, *args: str, cwd: Path, **env: str):
    res = subprocess.run(
        [str(tools["bot"]), "-model", str(model), "-db", str(db), "-every", "20ms", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return [LINE.fullmatch(line) for line in res.stdout.splitlines() if line.startswith("decision")]


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SIGMAGATE_")}


@pytest.mark.parametrize(("mode", "source"), [("sidecar", "model"), ("replica", "replica")])
def test_the_example_bot_decides_through_the_gate_found_by_sigmagate_root(
    tools, model, tmp_path, mode, source
) -> None:
    env = _base_env() | {"SIGMAGATE_ROOT": str(ROOT), "SIGMAGATE_PYTHON": PYTHON}
    lines = _bot(tools, model, tmp_path / "bot.db", "-n", "40", "-mode", mode, cwd=tmp_path, **env)
    assert len(lines) == 40 and all(lines), "every decision line is complete"
    # The sidecar may still be starting for the first decisions: the fallback answers those.
    last = lines[-1]
    assert last is not None
    assert (last[5], last[6], last[4]) == (source, "bot-model", "0.65")  # manifest's threshold
    assert all(0.0 <= float(m[3]) <= 1.0 for m in lines if m)


def test_the_example_bot_decides_at_the_models_threshold_for_the_symbol(tools, model, tmp_path):
    """A manifest's symbol_thresholds entry is what the bot's BTCUSDT decisions are held to."""
    own = tmp_path / "model"
    shutil.copytree(model.resolve(), own)
    man = json.loads((own / "manifest.json").read_text())
    man["symbol_thresholds"] = {"BTCUSDT": 0.8, "ETHUSDT": 0.55}
    (own / "manifest.json").write_text(json.dumps(man))
    env = _base_env() | {"SIGMAGATE_ROOT": str(ROOT), "SIGMAGATE_PYTHON": PYTHON}
    lines = _bot(tools, own, tmp_path / "bot.db", "-n", "40", cwd=tmp_path, **env)
    served = [m for m in lines if m and m[5] == "model"]
    assert served, "the sidecar answered some decisions"
    for m in served:
        p = float(m[3])  # printed to 3 decimals: a p within rounding of 0.8 could go either way
        assert m[4] == "0.8" and (abs(p - 0.8) < 1e-3 or (m[2] == "true") == (p >= 0.8)), m[0]


def test_config_command_runs_the_sidecar_without_a_checkout_root(tools, model, tmp_path) -> None:
    """-python sets Config.Command: no SIGMAGATE_ROOT, a cwd outside the checkout."""
    env = _base_env() | {"PYTHONPATH": str(ROOT)}
    lines = _bot(tools, model, tmp_path / "bot.db", "-n", "40", "-python", PYTHON, cwd=tmp_path,
                 **env)  # fmt: skip
    assert lines[-1] is not None and lines[-1][5] == "model"


def test_what_the_bot_records_is_what_train_reads(tools, model, tmp_path) -> None:
    db = tmp_path / "bot.db"
    env = _base_env() | {"SIGMAGATE_ROOT": str(ROOT), "SIGMAGATE_PYTHON": PYTHON}
    _bot(tools, model, db, "-n", "5", "-mode", "replica", cwd=tmp_path, **env)
    out = tmp_path / "export.jsonl"
    subprocess.run([str(tools["export"]), "-db", str(db), "-output", str(out)], check=True,
                   timeout=60)  # fmt: skip
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == 5 and {r["symbol"] for r in recs} == {"BTCUSDT"}
    feats = ["tick_ratio", "depth_ratio", "price_dist"]
    read = read_records(out, feats)
    assert len(read) == 5 and read.bad == 0
    assert detect(out) == {"provenance": "simulated", "simulated_records": 5}


def test_the_exporter_reads_the_running_bots_snapshot_not_its_locked_database(
    tools, model, tmp_path
) -> None:
    """README's nightly retrain on the bot's host: the bot holds -db for as long as it runs, so
    the exporter reads the copy -snapshot keeps (rewritten every -snapshot-every and at exit)."""
    db, snap = tmp_path / "data" / "bot.db", tmp_path / "data" / "bot.snapshot.db"
    env = _base_env() | {"SIGMAGATE_ROOT": str(ROOT), "SIGMAGATE_PYTHON": PYTHON}
    bot = subprocess.Popen(
        [str(tools["bot"]), "-model", str(model), "-db", str(db), "-every", "20ms", "-mode",
         "replica", "-snapshot", str(snap), "-snapshot-every", "200ms"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not snap.exists() and time.monotonic() < deadline and bot.poll() is None:
            time.sleep(0.05)
        assert snap.exists(), "no snapshot within 30 s"

        def export(src: Path) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(tools["export"]), "-db", str(src), "-output", "-", "-lock-timeout", "200ms"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip

        locked = export(db)
        assert locked.returncode != 0 and "lock" in locked.stderr, locked.stderr
        first = export(snap)
        assert first.returncode == 0, first.stderr
        time.sleep(0.5)  # a few more candidates and at least one more snapshot
        second = export(snap)
        assert second.returncode == 0, second.stderr
        assert len(second.stdout.splitlines()) > len(first.stdout.splitlines()) > 0
        assert bot.poll() is None, "the bot kept running throughout"
    finally:
        bot.send_signal(signal.SIGTERM)
        _, err = bot.communicate(timeout=30)
    assert bot.returncode == 0, err
    # At exit the last copy holds every candidate the bot recorded.
    final = subprocess.run([str(tools["export"]), "-db", str(snap), "-output", "-"],
                           capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    recorded = subprocess.run([str(tools["export"]), "-db", str(db), "-output", "-"],
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert final.stdout == recorded.stdout and final.stdout


def test_the_example_bot_logs_each_decision_the_fallback_answers(tools, model, tmp_path) -> None:
    """Decide's error is nil when the fallback answers; the bot reads d.Err to say so."""
    res = subprocess.run(
        [str(tools["bot"]), "-model", str(model), "-db", str(tmp_path / "bot.db"), "-every",
         "20ms", "-n", "5", "-python", str(tmp_path / "no-such-python")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_base_env(),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    lines = [LINE.fullmatch(x) for x in res.stdout.splitlines() if x.startswith("decision")]
    assert len(lines) == 5 and all(m and m[5] == "heuristic" for m in lines), res.stdout
    logged = [x for x in res.stderr.splitlines() if "decision from the fallback" in x]
    assert len(logged) == 5 and all('"reason":"child_down"' in x for x in logged), res.stderr
