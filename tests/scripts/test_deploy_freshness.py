"""deploy_model.sh's freshness check: the candidate and models/current scored on the
freshest outcomes (`train compare`), real models, real script runs, real sidecar."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.scripts.conftest import PYTHON, ROOT, Env, Sidecar, tree
from train.data.records import parse_timestamp

NO_FLOOR = ("--min-auc", "none")  # fixture models carry no test metrics


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two hours of records (the exporter's format) to score both models on."""
    out = tmp_path_factory.mktemp("fresh") / "fresh.jsonl"
    subprocess.run(
        [PYTHON, "-m", "train", "sample", "--out", str(out), "--rows", "6000", "--seed", "9"],
        check=True, capture_output=True, cwd=ROOT,
    )  # fmt: skip
    return out


def _row(log: str, role: str) -> list[str]:
    m = re.search(rf"freshness: {role} +\S+ +(\S+) +(\S+) +(\d+) +(\S+)", log)
    assert m, f"no {role} row in the log:\n{log[-3000:]}"
    return list(m.groups())


def test_worse_candidate_is_refused_with_the_figures_and_force_deploys_it(
    env: Env, serving: tuple[Sidecar, str], fresh: Path
) -> None:
    _, old = serving
    before, status_before = tree(env.models), env.status()
    # Fixture model B is far worse calibrated than A on these records (its log-loss is
    # higher on every resample of the window).
    b = env.model("model-b", seed=2)

    res = env.deploy("--from", str(b), *NO_FLOOR, "--data", str(fresh), "--fresh-window", "6h")

    assert res.returncode == 1, res.stderr[-3000:]
    err = res.stderr
    assert "freshness: model-b (challenger) vs model-a (champion)" in err
    champ, chall = _row(err, "champion"), _row(err, "challenger")
    assert float(chall[0]) > float(champ[0])  # log-loss
    assert "verdict: CHALLENGER WORSE — log-loss" in err
    m = re.search(r"log-loss +\+(\S+) \[\+(\S+), \+(\S+)\]", err)
    assert m and float(m.group(2)) > 0.005, err[-2000:]  # the interval's lower end
    assert "model-b is significantly worse than model-a" in err and "--force" in err
    assert f"models/current is unchanged: {old}" in err
    assert tree(env.models) == before, "a refused candidate is not even published"
    assert env.status() == status_before

    res = env.deploy("--from", str(b), *NO_FLOOR, "--data", str(fresh), "--force")

    assert res.returncode == 0, res.stderr[-3000:]
    assert "FORCED (--force): deploying model-b although it is significantly worse" in res.stderr
    assert env.current() == "model-b"
    logs = "".join(p.read_text() for p in env.logs.glob("deploy-*.log"))
    assert "verdict: CHALLENGER WORSE" in logs  # the figures are in the deploy log too


def test_better_candidate_passes_and_no_data_skips_with_a_log_line(
    env: Env, serving: tuple[Sidecar, str], fresh: Path
) -> None:
    c = env.model("model-c", seed=3)
    # --data relative to where the script is run, not to the checkout it runs its steps in.
    res = subprocess.run(
        env.argv("--from", str(c), *NO_FLOOR, "--data", fresh.name, "--no-restart"),
        capture_output=True, text=True, env=env.environ(), timeout=120, cwd=fresh.parent,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "verdict: ok — the challenger is not significantly worse" in res.stderr
    assert "freshness: model-c is not significantly worse than model-a" in res.stderr

    # A window within one bootstrap block (30 min) has no interval: said, not judged.
    e = env.model("model-e", seed=2)  # the far worse model: refused on a window it can judge
    res = env.deploy(
        "--from", str(e), *NO_FLOOR, "--data", str(fresh), "--fresh-window", "20m", "--no-restart"
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "verdict: not judged — the window spans" in res.stderr
    assert "WARNING: freshness check not judged" in res.stderr

    d = env.model("model-d", seed=4)
    res = env.deploy("--from", str(d), *NO_FLOOR, "--no-restart")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "freshness check skipped: no recent outcomes to score" in res.stderr


def test_first_deploy_skips_and_bad_window_is_refused(env: Env, fresh: Path) -> None:
    a = env.model("model-a", seed=1)
    res = env.deploy("--from", str(a), *NO_FLOOR, "--data", str(fresh), "--no-restart")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "freshness check skipped: no current model to compare with (first deploy)" in res.stderr
    res = env.deploy("--from", str(a), "--fresh-window", "6 hours")
    assert res.returncode == 2 and "--fresh-window must be a duration" in res.stderr
    # Promotion settings are checked on every run, not only when --promote reads them.
    for flag, value in (("--approval-band", "2,1"), ("--approval-band", "x"),
                        ("--min-agreement", "2"), ("--min-agreement", "abc")):  # fmt: skip
        res = env.deploy("--from", str(a), flag, value)
        assert res.returncode == 2 and f"{flag} must be" in res.stderr, (flag, value, res.stderr)
    for value in (".5,2.", "0,0"):
        res = env.deploy(
            "--from", str(a), *NO_FLOOR, "--approval-band", value, "--min-agreement", "1",
            "--dry-run",
        )  # fmt: skip
        assert res.returncode == 0, (value, res.stderr[-2000:])


def _split(data: Path, window: str, train: Path, held: Path) -> subprocess.CompletedProcess[str]:
    """scripts/fresh_window.py, as the deploy runs it."""
    return subprocess.run(
        [PYTHON, str(ROOT / "scripts" / "fresh_window.py"), str(data), "--window", window,
         "--train", str(train), "--fresh", str(held)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip


def test_split_holds_out_the_last_window(tmp_path: Path, fresh: Path) -> None:
    train, held = tmp_path / "train.jsonl", tmp_path / "fresh.jsonl"
    res = _split(fresh, "30m", train, held)
    assert res.returncode == 0, res.stderr
    cut, n_train, n_fresh = res.stdout.strip().split("\t")
    ts = [parse_timestamp(json.loads(x)["timestamp"]) for x in train.read_text().splitlines()]
    ts_fresh = [parse_timestamp(json.loads(x)["timestamp"]) for x in held.read_text().splitlines()]
    assert (len(ts), len(ts_fresh)) == (int(n_train), int(n_fresh))
    assert len(ts) + len(ts_fresh) == len(fresh.read_text().splitlines())
    assert max(ts) < parse_timestamp(cut) <= min(ts_fresh)
    res = _split(fresh, "1d", train, held)
    assert res.returncode == 3 and "nothing to hold out" in res.stdout


def test_split_of_a_parquet_directory_keeps_its_files_and_partitions(
    tmp_path: Path, fresh: Path
) -> None:
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    from train.data.parquet import open_dataset, timestamps_ns

    data = tmp_path / "days"
    pq.write_to_dataset(pj.read_json(fresh), data, partition_cols=["symbol"])  # symbol=…/*.parquet
    train, held = tmp_path / "train.d", tmp_path / "fresh.d"
    res = _split(data, "30m", train, held)
    assert res.returncode == 0, res.stderr
    cut, n_train, n_fresh = res.stdout.strip().split("\t")
    parts = {}
    for name, d in (("train", train), ("fresh", held)):
        assert all(p.parent.name.startswith("symbol=") for p in d.rglob("*.parquet")), name
        table = open_dataset(d).to_table()
        parts[name] = (
            timestamps_ns(table.column("timestamp"), name),
            set(table.column("symbol").to_pylist()),
        )
    (ts, syms), (ts_fresh, syms_fresh) = parts["train"], parts["fresh"]
    assert (len(ts), len(ts_fresh)) == (int(n_train), int(n_fresh))
    assert len(ts) + len(ts_fresh) == len(fresh.read_text().splitlines())
    assert ts.max() < parse_timestamp(cut) <= ts_fresh.min()
    assert syms | syms_fresh == {"BTCUSDT", "ETHUSDT", "SOLUSDT"} and syms_fresh  # from the paths


def test_data_too_short_to_hold_out_the_window_is_refused_while_a_model_serves(
    env: Env, serving: tuple[Sidecar, str], fresh: Path
) -> None:
    """The candidate trained on the least data is the one most in need of the check."""
    _, old = serving
    before = tree(env.models)

    res = env.deploy("--data", str(fresh), *NO_FLOOR, "--fresh-window", "1d", "--no-restart")

    assert res.returncode == 1, res.stderr[-3000:]
    assert f"freshness: cannot judge the candidate against {old}" in res.stderr
    assert "nothing to hold out" in res.stderr and "--force" in res.stderr
    assert "train: " not in res.stderr, "refused before training"
    assert tree(env.models) == before

    res = env.deploy(
        "--data", str(fresh), *NO_FLOOR, "--fresh-window", "1d", "--no-restart", "--force",
        "--train-arg", "--threshold", "--train-arg", "0.5",  # 6000 records: p stays below 0.65
        "--allow-simulated",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "FORCED (--force): freshness check skipped" in res.stderr
    assert env.current() != old
