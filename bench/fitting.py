"""`train fit` wall time, peak memory and test AUC at several sizes and searches."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from bench import proc
from bench.budget import Budget

log = logging.getLogger("bench")

# A fit given less time than this is not started: it could not finish anyway.
MIN_CAP_S = 20.0


def sample(root: Path, work: Path, rows: int, timeout_s: float) -> tuple[Path | None, str]:
    data = work / "data" / f"sample-{rows}.jsonl"
    data.parent.mkdir(parents=True, exist_ok=True)
    r = proc.run(
        [
            proc.python(),
            "-m",
            "train",
            "sample",
            "--out",
            str(data),
            "--rows",
            str(rows),
            "--seed",
            "1",
            "--signal",
            "planted",
        ],
        cwd=root,
        timeout_s=timeout_s,
        log_path=work / "logs" / f"sample-{rows}.log",
    )
    if r.returncode != 0:
        why = "timed out" if r.timed_out else f"exit {r.returncode}"
        return None, f"`train sample --rows {rows}` {why} (log: build/bench/logs/sample-{rows}.log)"
    return data, f"{r.wall_s:.0f} s"


def fit(
    root: Path,
    work: Path,
    data: Path,
    rows: int,
    search: str,
    extra: tuple[str, ...],
    timeout_s: float,
) -> dict:
    out = work / "models" / f"{search}-{rows}"
    out.mkdir(parents=True, exist_ok=True)
    logp = work / "logs" / f"fit-{search}-{rows}.log"
    r = proc.run(
        [
            proc.python(),
            "-m",
            "train",
            "fit",
            "--data",
            str(data),
            "--out",
            str(out),
            "--search",
            search,
            *extra,
        ],
        cwd=root,
        timeout_s=timeout_s,
        log_path=logp,
    )
    res: dict[str, Any] = {
        "rows": rows,
        "search": search,
        "extra_args": list(extra),
        "wall_s": r.wall_s,
        "max_rss_kib": r.max_rss_kib,
        "returncode": r.returncode,
        "log": str(logp.relative_to(root)) if logp.is_relative_to(root) else str(logp),
    }
    if r.timed_out:
        res["status"] = f"stopped at the {timeout_s:.0f} s cap"
        return res
    if r.returncode != 0:
        res["status"] = f"exit {r.returncode}" + (" (quality gate)" if r.returncode == 1 else "")
        res["reason"] = _last_line(logp)
        return res
    model_dir = Path(r.stdout.strip().splitlines()[-1])
    manifest = json.loads((model_dir / "manifest.json").read_text())
    res.update(
        status="done",
        model_dir=str(model_dir),
        version=manifest.get("version"),
        family=manifest.get("model_family"),
        auc=(manifest.get("metrics", {}).get("test") or {}).get("auc"),
        best_params=(manifest.get("training") or {}).get("best_params"),
        tuned_rows=(manifest.get("training") or {}).get("tuned_rows"),
        search_fits=(manifest.get("training") or {}).get("fits"),
    )
    return res


def _last_line(log_path: Path) -> str:
    """The last message `train` logged (its progress bars redraw with carriage returns)."""
    text = log_path.read_text(errors="replace").replace("\r", "\n")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "fit/s" not in ln]
    return lines[-1] if lines else ""


class Fitter:
    """Runs `train fit` at (rows, search) pairs, sampling each data size once."""

    def __init__(self, root: Path, work: Path, budget: Budget) -> None:
        self.root, self.work, self.budget = root, work, budget
        self.datasets: dict[int, Path | None] = {}
        self._sample_notes: dict[int, str] = {}  # how each sample went: its time, or why not
        self.results: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def dataset(self, rows: int, cap_s: float) -> tuple[Path | None, str]:
        """The sample data of `rows` rows, made once per run; None and why when it failed."""
        if rows not in self.datasets:
            self.datasets[rows], how = sample(self.root, self.work, rows, cap_s)
            self._sample_notes[rows] = how
            if self.datasets[rows] is not None:
                log.info("sampled %d rows in %s", rows, how)
        return self.datasets[rows], self._sample_notes[rows]

    def one(
        self, rows: int, search: str, extra: tuple[str, ...], cap_s: float
    ) -> dict[str, Any] | None:
        """Fit once within cap_s seconds (sampling included); None when not attempted."""
        if search == "grid" and rows > self.budget.grid_max_rows:
            self.notes.append(
                f"`--search grid` at {rows:,} rows was not attempted: within the 20-minute "
                "budget of `make bench` on 2 cores only one grid search fits beside everything "
                "else, and it is run at the smaller size (its wall time is in the table; "
                "`--search fast` at this size is there too)."
            )
            return None
        if cap_s < MIN_CAP_S:
            self.notes.append(
                f"`train fit --search {search}` at {rows:,} rows was not attempted: "
                f"only {max(cap_s, 0):.0f} s of the run's time budget was left."
            )
            return None
        t0 = time.perf_counter()
        data, why = self.dataset(rows, cap_s)
        if data is None:
            self.notes.append(why)
            return None
        left = cap_s - (time.perf_counter() - t0)
        cap = min(self.budget.fit_timeout_s, left)
        res = fit(self.root, self.work, data, rows, search, extra, cap)
        log.info("fit %s %d: %s %.0f s auc=%s", search, rows, res["status"], res["wall_s"],
                 res.get("auc"))  # fmt: skip
        self.results.append(res)
        return res
