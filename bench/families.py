"""Which model family should `train fit` default to: a measured table.

Per family, `train fit --model F --search fast --no-report` on the project's
own sample data (`train sample --seed 1`), each fit in its own process:
wall time, peak RSS (wait4), and the published model's test AUC, log-loss
and ECE (10 equal-mass bins). The reference is one careful LightGBM fit on
the same split: early stopping on the validation split, no search, no
calibration, one thread.

    python -m bench.families --rows 100000 1000000      # writes build/bench/families.md

    python -m bench.families --rows 1000000 --families hgb lgbm   # a subset

All six families at 10^5 and 10^6 rows run under `make bench-scale`
(tests/train/test_train_bench_families.py). `make bench` runs the families that
fit in its budget (bench/budget.py `family_runs`) on the data its `train fit`
rows use, and sets the default's 10^6-row fit beside the reference's.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from bench import proc
from modelformat.defaults import DEFAULT_FEATURES

log = logging.getLogger("bench")
FAMILIES = ("gbm", "hgb", "lgbm", "xgb", "rf", "mlp")
FEATURES = list(DEFAULT_FEATURES)
REFERENCE = "lgbm early-stopped (reference)"


def reference(data: Path) -> dict[str, Any]:
    """One early-stopped LightGBM fit (in this process; run it in a child for its RSS)."""
    import lightgbm as lgb
    import numpy as np

    from train.data.dataset import build_dataset
    from train.data.load import read_records
    from train.labels.labeler import LabelParams
    from train.model.metrics import proper_scores

    ds = build_dataset(read_records(data, FEATURES), FEATURES, LabelParams(), 0.0)
    t0 = time.perf_counter()
    clf = lgb.LGBMClassifier(
        n_estimators=5000, learning_rate=0.05, num_leaves=31, min_child_samples=100,
        n_jobs=1, verbose=-1, random_state=0,
    )  # fmt: skip
    clf.fit(
        ds.train.X.astype(np.float32), ds.train.y,
        eval_set=[(ds.validation.X.astype(np.float32), ds.validation.y)],
        callbacks=[lgb.early_stopping(50, verbose=False)],
    )  # fmt: skip
    fit_s = time.perf_counter() - t0
    p = clf.predict_proba(ds.test.X.astype(np.float32))[:, 1]
    s = proper_scores(ds.test.y, p)
    return {"fit_s": fit_s, "trees": int(clf.best_iteration_ or 0), **s}


def measure(
    root: Path, work: Path, rows: int, timeout_s: float, families: tuple[str, ...] = FAMILIES
) -> list[dict[str, Any]]:
    from bench.fitting import sample

    data, note = sample(root, work, rows, timeout_s)
    if data is None:
        return [{"rows": rows, "family": "-", "status": note}]
    return measure_on(root, work, data, rows, timeout_s, families)


def measure_on(
    root: Path, work: Path, data: Path, rows: int, timeout_s: float, families: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Each family's fit on data (rows of `train sample`), then the reference's."""
    out = []
    for fam in families:
        models = work / "models" / f"family-{fam}-{rows}"
        models.mkdir(parents=True, exist_ok=True)
        argv = [proc.python(), "-m", "train", "fit", "--data", str(data), "--out", str(models),
                "--model", fam, "--search", "fast", "--no-report"]  # fmt: skip
        r = proc.run(argv, root, timeout_s, log_path=work / "logs" / f"family-{fam}-{rows}.log")
        row: dict[str, Any] = {"rows": rows, "family": fam, "wall_s": r.wall_s,
                               "rss_mib": r.max_rss_kib / 1024}  # fmt: skip
        if r.returncode == 0:
            man = json.loads(
                (Path(r.stdout.strip().splitlines()[-1]) / "manifest.json").read_text()
            )
            t = man["metrics"]["test"]
            row |= {"status": "ok", "auc": t["auc"], "log_loss": t["log_loss"], "ece": t["ece"],
                    "calibration": man["training"]["calibration"]}  # fmt: skip
        else:
            row["status"] = "timed out" if r.timed_out else f"exit {r.returncode}"
        log.info("%s", row)
        out.append(row)
    r = proc.run([proc.python(), "-m", "bench.families", "--reference", str(data)], root,
                 timeout_s, log_path=work / "logs" / f"family-reference-{rows}.log")  # fmt: skip
    row = {"rows": rows, "family": REFERENCE, "wall_s": r.wall_s,
           "rss_mib": r.max_rss_kib / 1024}  # fmt: skip
    if r.returncode == 0:
        ref = json.loads(r.stdout.strip().splitlines()[-1])
        row |= {"status": f"ok, fit {ref['fit_s']:.1f} s, {ref['trees']} trees",
                "fit_s": ref["fit_s"], "auc": ref["auc"], "log_loss": ref["log_loss"],
                "ece": ref["ece"], "calibration": "none"}  # fmt: skip
    else:
        row["status"] = "timed out" if r.timed_out else f"exit {r.returncode}"
    log.info("%s", row)
    out.append(row)
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    def f(v: Any, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    lines = [
        "| rows | family | wall s | peak RSS MiB | test AUC | test log-loss | test ECE | "
        "calibration | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rows']} | {r['family']} | {f(r.get('wall_s'), '.1f')} | "
            f"{f(r.get('rss_mib'), '.0f')} | {f(r.get('auc'), '.4f')} | "
            f"{f(r.get('log_loss'), '.4f')} | {f(r.get('ece'), '.4f')} | "
            f"{r.get('calibration', '-')} | {r['status']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.families", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--work", type=Path, default=Path("build/bench"))
    p.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    p.add_argument("--timeout", type=float, default=3600.0, help="per fit, s")
    p.add_argument("--reference", type=Path, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    if a.reference:
        print(json.dumps(reference(a.reference)))
        return 0
    root = Path(__file__).resolve().parent.parent
    work = a.work if a.work.is_absolute() else root / a.work
    (work / "logs").mkdir(parents=True, exist_ok=True)
    rows = [r for n in a.rows for r in measure(root, work, n, a.timeout, tuple(a.families))]
    table = markdown(rows)
    (work / "families.md").write_text(table, encoding="utf-8")
    (work / "families.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
