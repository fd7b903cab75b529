"""deploy_model.sh --data: what `train fit`'s exit status means to the deploy, and a
directory of Parquet files (which train fit reads) as the training data."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

from tests.scripts.conftest import PYTHON, ROOT, Env


def _sample(path: Path, rows: int) -> None:
    subprocess.run([PYTHON, "-m", "train", "sample", "--out", str(path), "--rows", str(rows),
                    "--seed", "3"], check=True, capture_output=True, cwd=ROOT)  # fmt: skip


def test_a_crash_of_train_fit_is_not_reported_as_a_failed_gate(env: Env) -> None:
    data = env.models.parent / "s.jsonl"
    _sample(data, 300)
    # The real train, with its fit broken: `python -m train fit` dies of an exception.
    fake = env.models.parent / "python"
    fake.write_text(
        "#!/bin/bash\n"
        'if [[ "$1 $2 $3" == "-m train fit" ]]; then\n'
        "  shift 2\n"
        f"  exec {PYTHON} -c 'import sys, train.publish.run as r, train.__main__ as m\n"
        'def boom(a): raise MemoryError("out of memory")\n'
        'r.run_fit = boom; sys.argv[0] = "train"; m.main()\' "$@"\n'
        "fi\n"
        f'exec {PYTHON} "$@"\n'
    )
    fake.chmod(0o755)
    res = env.deploy("--data", str(data), "--no-restart", SIGMAGATE_PYTHON=str(fake))
    assert res.returncode == 1, res.stderr[-3000:]
    assert "MemoryError: out of memory" in res.stderr  # the traceback, in the deploy's output
    assert "train fit crashed (exit 4" in res.stderr, res.stderr[-3000:]
    assert "quality gate" not in res.stderr
    assert env.current() is None


def test_deploy_trains_on_a_directory_of_parquet_files(env: Env) -> None:
    one = env.models.parent / "s.parquet"
    _sample(one, 4000)
    t = pq.read_table(one)
    days = env.models.parent / "days"
    days.mkdir()
    half = t.num_rows // 2
    pq.write_table(t.slice(0, half), days / "part-0.parquet")
    pq.write_table(t.slice(half), days / "part-1.parquet")
    (env.models / ".sandbox").touch()  # simulated data
    # A model serves, so the freshness check holds the last 30 min of the directory out
    # (--force: a model fitted on 3,000 rows is not worth judging, only the split is).
    a = env.model("model-a", seed=1)
    res = env.deploy("--from", str(a), "--min-auc", "none", "--skip-smoke", "--no-restart")
    assert res.returncode == 0, res.stderr[-3000:]
    res = env.deploy("--data", str(days), "--dry-run", "--search", "fast", "--min-auc", "none",
                     "--fresh-window", "30m", "--train-arg", "--no-report", "--force",
                     timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "not found" not in res.stderr
    assert f"freshness: holding out the last 30m of {days}" in res.stderr
    assert "freshness: " in res.stderr and " (challenger) vs model-a (champion)" in res.stderr
    assert "dry run: would publish" in res.stderr


def test_a_deploy_killed_while_training_takes_its_training_with_it(env: Env) -> None:
    data = env.models.parent / "big.jsonl"
    _sample(data, 60000)  # a fit that lasts several seconds
    (env.models / ".sandbox").touch()
    proc = subprocess.Popen(env.argv("--data", str(data), "--search", "fast", "--min-auc", "none",
                                     "--no-restart"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env.environ(), cwd=ROOT)  # fmt: skip

    def training() -> list[int]:
        out = subprocess.run(["pgrep", "-f", f"train fit --data {data}"], capture_output=True,
                             text=True)  # fmt: skip
        return [int(p) for p in out.stdout.split()]

    try:
        deadline = time.monotonic() + 60
        while not training() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        pids = training()
        assert pids, "the deploy never started training"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while training() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not training(), f"train fit {pids} outlived its SIGKILLed deploy"
    finally:
        for pid in training():
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
