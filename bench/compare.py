"""Old code against new and against onnxruntime called in process, in one run.

The baseline commit's own gatebench, predictor and sidecar are built from a
`git archive` of that commit under build/bench/, and run beside this
checkout's: each round measures the baseline's sigmagate target, this
checkout's, and this checkout's onnxruntime target (Go calling onnxruntime's
C API per row) at every goroutine count, one after the other, so that the
machine's load, which moves these figures more than the code does, hits the
three alike. The onnxruntime runs also measure onnxruntime's cost per row at
several rows per call (gatebench -ort-batches). The report shows every round
and the median.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from bench import proc
from bench.budget import Budget

log = logging.getLogger("bench")

BUILDS = ("baseline", "current", "onnxruntime")


def baseline_tree(root: Path, work: Path, commit: str) -> tuple[Path, Path]:
    """The baseline commit's files and its gatebench binary (built once, then reused)."""
    full = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    tree = work / f"baseline-{full[:12]}"
    binary = work / "bin" / f"gatebench-{full[:12]}"
    if not (tree / ".complete").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.Popen(["git", "archive", full], cwd=root, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {commit} failed")
        (tree / ".complete").write_text(full + "\n")
    if not binary.exists():
        # Where gatebench lived at that commit (it has moved since).
        pkg = next(
            (p for p in ("go/bench/cmd/gatebench", "go/cmd/gatebench") if (tree / p).is_dir()), None
        )
        if pkg is None:
            raise RuntimeError(f"{commit} has no gatebench")
        mod = tree / pkg.split("/cmd/")[0]
        subprocess.run(["go", "build", "-o", str(binary), "./cmd/gatebench"], cwd=mod, check=True)
    return tree, binary


def _gatebench(
    binary: Path, tree: Path, model: Path, target: str, budget: Budget, extra: list[str], out: Path
) -> dict[str, Any]:
    # The baseline's Python children must import the baseline's infer.
    env = {**os.environ, "SIGMAGATE_ROOT": str(tree), "PYTHONPATH": str(tree)}
    argv = [
        str(binary), "-root", str(tree), "-python", proc.python(), "-model", str(model),
        "-targets", target, "-concurrency", ",".join(map(str, budget.concurrency)),
        "-warmup", f"{budget.warmup_s}s", "-duration", f"{budget.compare_duration_s}s",
        "-startup-runs", "0", "-sparse-gaps", "", "-busy-hogs", "0", "-out", str(out), *extra,
    ]  # fmt: skip
    r = subprocess.run(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"gatebench ({binary.name}, {target}) exited {r.returncode}")
    rep: dict[str, Any] = json.loads(out.read_text())
    return rep


def run(root: Path, work: Path, budget: Budget, model: Path, gatebench: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"baseline_commit": budget.compare_baseline, "rounds": []}
    try:
        tree, old = baseline_tree(root, work, budget.compare_baseline)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
        out["skipped"] = f"baseline {budget.compare_baseline} not built: {e}"
        return out
    out["baseline_commit"] = (tree / ".complete").read_text().strip()
    lib = proc.ort_library()
    runs = {
        "baseline": (old, tree, "sigmagate", []),
        "current": (gatebench, root, "sigmagate", []),
        "onnxruntime": (gatebench, root, "onnxruntime", ["-ort-lib", lib]),
    }
    for i in range(budget.compare_rounds):
        for build in BUILDS:
            binary, cwd, target, extra = runs[build]
            path = work / f"compare-{build}-{i}.json"
            try:
                rep = _gatebench(binary, cwd, model, target, budget, extra, path)
            except (RuntimeError, OSError, ValueError) as e:
                out.setdefault("errors", []).append(f"round {i + 1} {build}: {e}")
                continue
            for r in rep["decisions"]:
                out["rounds"].append({"round": i + 1, "build": build, **r})
            for b in rep.get("onnxruntime_batches") or []:
                out.setdefault("onnxruntime_batches", []).append({"round": i + 1, **b})
            for k, v in (rep.get("skipped") or {}).items():
                out.setdefault("errors", []).append(f"round {i + 1} {build} {k}: {v}")
        log.info("comparison round %d of %d done", i + 1, budget.compare_rounds)
    return out
