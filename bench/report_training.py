"""BENCHMARKS.md section: training (labeling, export, fitting throughput)."""

from __future__ import annotations

from typing import Any

from bench import families
from bench.markdown import mib, rate, table
from modelformat.defaults import LABEL_LOOKAHEAD_S


def section(res: dict[str, Any], img_prefix: str) -> list[str]:
    lines = ["## Training", "", "### Labeling throughput", ""]
    lab = res.get("labeling") or {}
    runs = lab.get("runs", [])
    if runs:
        lines += [
            "The same synthetic records (3 symbols, exponential gaps averaging 3 s with 3 % "
            f"duplicate timestamps, {LABEL_LOOKAHEAD_S:g} s lookahead) labelled by "
            "`train.labels.labeler.label_records` "
            "(sort + sliding-window extrema) and by the seed's O(n²) scan "
            "(`tests/train/reference_labels.py`), each in its own process; time excludes data "
            "generation.",
            "",
        ]
        lines += table(
            ["implementation", "rows", "time", "rows/s", "peak RSS", "same labels as train.labels"],
            [
                [
                    "train.labels" if r["impl"] == "fast" else "O(n²) reference",
                    f"{r['rows']:,}",
                    f"{r['seconds']:.2f} s" if r.get("seconds") is not None else "—",
                    rate(r["rows_per_s"]) if r.get("rows_per_s") else "—",
                    mib(r.get("max_rss_kib")),
                    {True: "yes", False: "**no**"}.get(r.get("same_as_train_labels"), "—"),
                ]
                for r in runs
            ],
        )
        lines += [f"![labeling]({img_prefix}labeling.png)", ""]
    for note in lab.get("notes", []):
        lines += [f"* {note}"]
    if lab.get("notes"):
        lines += [""]

    lines += ["### `train fit`", ""]
    fits = res.get("fit") or []
    if fits:
        lines += [
            "`train sample --signal planted` data, then `train fit` with its defaults apart from "
            "`--search` (and the options the table shows: with `--tune-rows N` the search runs on "
            "the most recent N training rows and the best setting is refit on all of them; "
            "`--cv-folds` sets the number of time-ordered folds). Wall "
            "time and peak memory are the fit's alone (peak: the largest resident set of the "
            "`train` process or any child it waited for, from wait4); AUC is on the untouched "
            "test split, from the manifest.",
            "",
        ]
        lines += table(
            ["rows", "search", "tuned on", "result", "wall time", "peak RSS", "test AUC", "model"],
            [
                [
                    f"{f['rows']:,}",
                    f["search"] + "".join(f" {a}" for a in f.get("extra_args", [])),
                    f"{f['tuned_rows']:,} rows, {f['search_fits']} fits"
                    if f.get("tuned_rows")
                    else "—",
                    f["status"],
                    f"{f['wall_s']:.0f} s" if f.get("wall_s") is not None else "—",
                    mib(f.get("max_rss_kib")),
                    f"{f['auc']:.3f}" if f.get("auc") is not None else "—",
                    f.get("family") or "—",
                ]
                for f in fits
            ],
        )
        lines += [
            f"* {f['rows']:,} rows, `--search {f['search']}`: {f['status']}: {f['reason']}"
            for f in fits
            if f.get("reason")
        ]
        lines += [
            "* Grid search is run with a smaller tuning slice and fewer folds (train's own "
            "`--tune-rows` and `--cv-folds`), because the full grid of 81 GradientBoosting "
            "settings times 5 folds at train's default tuning size does not fit in the "
            "20-minute budget of `make bench` on 2 cores beside everything else; see "
            "`build/bench/logs/fit-grid-*.log` for its progress bars.",
            "",
        ]
    else:
        lines += ["Not measured.", ""]
    lines += [f"* {n}" for n in res.get("fit_notes", [])]
    if res.get("fit_notes"):
        lines += [""]
    return lines + _families(res.get("families"))


def _families(rows: list[dict[str, Any]] | None) -> list[str]:
    lines = ["### Model families", ""]
    if not rows:
        return [*lines, "Not measured.", ""]
    lines += [
        "The same sample data as the `train fit` rows. Each family: `train fit --model F "
        "--search fast --no-report` in its own process (wall time and peak RSS of that "
        "process; test AUC, log-loss and ECE over 10 equal-mass bins from its manifest). "
        f"The reference, *{families.REFERENCE}*, is one LightGBM fit on the same training "
        "split with early stopping on the validation split, no search, no calibration, one "
        "thread, in its own process (its wall time includes reading and labelling the data, "
        "as the families' does). At 10⁶ rows the default family's own `train fit` row "
        "above is the one set beside it (targets table). gbm, rf and mlp take minutes per "
        "fit at 10⁵ rows on 2 cores and are measured by `make bench-scale` "
        '(docs/TRAINING.md, "Model families").',
        "",
    ]
    return lines + families.markdown(rows).splitlines() + [""]
