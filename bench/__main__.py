"""`python -m bench` (what `make bench` runs): every benchmark, then docs/BENCHMARKS.md.

    python -m bench [--quick] [--only fit,families,labeling,decisions,pipe,idle,suites]
                    [--out-dir DIR]

The full run is held under 20 minutes on the project's 2-core machine by a
deadline: the parts that the rest depends on run first (the model the decision
benchmarks serve, then the decisions themselves), and every later part gets
only the time that is left, saying so in the report when that was not enough.
--quick (1-2 minutes) checks the whole pipeline and writes to build/bench/quick/
instead of docs/, so it never overwrites the published figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Nothing heavy (numpy, matplotlib) is imported before the children have run:
# a child's peak-memory figure from wait4() starts at the parent's size when it
# forked, so the parent must stay small.
from bench import (
    decisions,
    families,
    fitting,
    idle_cpu,
    labeling,
    machine,
    models,
    pipe,
    suites,
)
from bench.budget import FULL, QUICK

log = logging.getLogger("bench")
PARTS = ("fit", "families", "labeling", "decisions", "pipe", "idle", "suites")
GATEBENCH_TARGETS = [
    "fallback", "echo", "infer", "sigmagate", "replica", "replica-fallback", "onnxruntime", "http",
    "reference",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short smoke-test budget")
    ap.add_argument("--only", default=",".join(PARTS), help=f"parts to run, of {','.join(PARTS)}")
    ap.add_argument("--targets", default=",".join(GATEBENCH_TARGETS), help="gatebench targets")
    ap.add_argument("--out-dir", type=Path, help="where BENCHMARKS.md goes (default docs/)")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s bench %(message)s", stream=sys.stderr
    )

    budget = QUICK if args.quick else FULL
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if bad := set(parts) - set(PARTS):
        ap.error(f"--only: unknown part(s) {', '.join(sorted(bad))}")
    out_dir = args.out_dir or (root / "build" / "bench" / "quick" if args.quick else root / "docs")
    if out_dir.resolve() == (root / "docs").resolve() and (dirty := _uncommitted(root)):
        # The page names the commit it measured: that must be all the code that ran.
        ap.error(
            "docs/BENCHMARKS.md is written only from a clean checkout (commit or stash first, "
            f"or write elsewhere with --out-dir or --quick); uncommitted: {dirty}"
        )
    work = root / "build" / "bench"
    (work / "logs").mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    deadline = t0 + budget.total_s

    def left(reserve: float = 0.0) -> float:
        return deadline - time.perf_counter() - reserve

    res: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "budget": budget.to_dict(),
        "machine": machine.describe(root),
        "skipped": {},
    }
    fitter = fitting.Fitter(root, work, budget)
    fit_runs = list(budget.fit_runs) if "fit" in parts else []
    # Fast-search models first: the decision benchmarks serve one of them.
    for run in [r for r in fit_runs if r[1] == "fast"]:
        fit_runs.remove(run)
        fitter.one(*run, cap_s=left(budget.reserve_before_decisions_s))
    model, how = _serving_model(root, work, fitter.results)
    res["model"] = {"path": str(model), "version": model.name, "how": how}

    if "decisions" in parts:
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        _decisions(root, work, budget, model, targets, fitter, res)
    if "labeling" in parts:
        res["labeling"] = labeling.run_all(root, work, budget)
    for rows, search, extra in fit_runs:
        fitter.one(rows, search, extra, cap_s=left(budget.reserve_s))
    if "fit" in parts:
        res["fit"] = fitter.results
        res["fit_notes"] = fitter.notes
    if "families" in parts:
        res["families"] = _families(root, work, budget, fitter, lambda: left(budget.reserve_s))
    if "pipe" in parts:
        res["pipe"] = pipe.run(root, work, model, min(budget.pipe_timeout_s, left(60)), args.quick)
    if "idle" in parts:
        res["idle_cpu"] = idle_cpu.run(root, work, model, args.quick, min(180.0, max(left(60), 30)))
    if "suites" in parts:
        res["suites"] = suites.run(
            root, work, budget.go_benchtime, min(budget.suite_timeout_s, max(left(), 30))
        )
    res["total_s"] = time.perf_counter() - t0
    write(res, out_dir, root)
    log.info("done in %.1f min: %s", res["total_s"] / 60, out_dir / "BENCHMARKS.md")
    return 0


def _families(
    root: Path, work: Path, budget: Any, fitter: fitting.Fitter, left: Any
) -> list[dict[str, Any]]:
    """The family table's rows, on the same sample data as the `train fit` rows."""
    rows_out: list[dict[str, Any]] = []
    for rows, fams in budget.family_runs:
        cap = min(budget.fit_timeout_s, left())
        if cap < fitting.MIN_CAP_S:
            why = f"not run: only {max(cap, 0):.0f} s of the run's time budget was left"
            rows_out.append({"rows": rows, "family": "-", "status": why})
            continue
        data, why = fitter.dataset(rows, cap)
        if data is None:
            rows_out.append({"rows": rows, "family": "-", "status": why})
            continue
        rows_out += families.measure_on(root, work, data, rows, cap, fams)
    return rows_out


def _uncommitted(root: Path) -> str:
    """`git status --porcelain`, abridged; empty for a clean checkout."""
    r = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
    )
    lines = r.stdout.splitlines()
    return ", ".join(line[3:] for line in lines[:5]) + (" …" if len(lines) > 5 else "")


def _decisions(
    root: Path,
    work: Path,
    budget: Any,
    model: Path,
    targets: list[str],
    fitter: fitting.Fitter,
    res: dict[str, Any],
) -> None:
    reload, res["reload_models"] = _reload_models(root, work, fitter.results)
    if reload is None:
        res["skipped"]["reload"] = res["reload_models"]
    try:
        res["decisions"] = decisions.run(root, work, budget, model, reload, targets)
    except (RuntimeError, OSError, ValueError, subprocess.CalledProcessError) as e:
        res["skipped"]["decisions"] = f"gatebench failed: {e}"


def _serving_model(root: Path, work: Path, fits: list[dict[str, Any]]) -> tuple[Path, str]:
    """The smallest fast-search model trained above, else the tiny test fixture."""
    for f in sorted(fits, key=lambda f: f["rows"]):
        if f["search"] == "fast" and f.get("model_dir"):
            auc = f.get("auc")
            return Path(f["model_dir"]), (
                f"trained by `train fit --search fast` on {f['rows']:,} rows of `train sample "
                f"--signal planted` in this run ({f.get('family')} {f.get('best_params')}, "
                f"test AUC {'?' if auc is None else f'{auc:.3f}'})"
            )
    path = models.tiny(root, work / "models", "bench-tiny")
    return path, "the small test fixture `tests/fixtures/tiny_model.py` (no trained model)"


def _reload_models(
    root: Path, work: Path, fits: list[dict[str, Any]]
) -> tuple[tuple[Path, Path, Path] | None, str]:
    """Two models of the same shape: the trained one and a tiny fixture, or two fixtures."""
    trained = [Path(f["model_dir"]) for f in fits if f.get("model_dir")]
    try:
        a, b, link = models.reload_pair(root, work)
    except RuntimeError as e:
        return None, str(e)
    if trained:
        models.point(link, trained[0])
        return (trained[0], b, link), (
            f"the trained model `{trained[0].name}` and the test fixture `{b.name}`, alternately"
        )
    return (a, b, link), "two small test fixtures (`tests/fixtures/tiny_model.py`)"


def write(res: dict[str, Any], out_dir: Path, root: Path) -> None:
    from bench import plots, report, scale_report

    img_dir = out_dir / "benchmarks"
    img_dir.mkdir(parents=True, exist_ok=True)
    # Paths inside the checkout are written relative to it: the file is committed.
    text = json.dumps(res, indent=2, default=str).replace(f"{root}/", "")
    (img_dir / "results.json").write_text(text + "\n")
    res = json.loads(text)
    pngs = plots.decisions((res.get("decisions") or {}).get("decisions") or [], img_dir)
    pngs += plots.labeling(res.get("labeling") or {}, img_dir)
    md = report.render(res, [p.name for p in pngs], "benchmarks/")
    (out_dir / "BENCHMARKS.md").write_text(md + "\n")
    scale = root / "docs" / "benchmarks" / "scale.json"  # `make bench-scale` keeps its section
    if scale.exists():
        scale_report.splice(out_dir / "BENCHMARKS.md", json.loads(scale.read_text()))


if __name__ == "__main__":
    sys.exit(main())
