"""deploy_model.sh --data: what `train fit`'s exit status means to the deploy."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
