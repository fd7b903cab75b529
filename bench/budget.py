"""How much of each benchmark to run: the full run (`make bench`, < 20 min on
2 cores) and `--quick` (a 1-2 minute smoke test of the whole pipeline)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

GRID_ARGS = ("--tune-rows", "2000", "--cv-folds", "3")


@dataclass(frozen=True)
class Budget:
    name: str
    # The whole run's deadline, and the time kept back for the parts after a fit: the
    # fast-search fits run before the decision benchmarks, the grid fits after them.
    total_s: float = 19 * 60
    reserve_before_decisions_s: float = 7 * 60
    reserve_s: float = 100.0
    # Decisions (gatebench): seconds per target and concurrency.
    concurrency: tuple[int, ...] = (1, 8, 64)
    warmup_s: float = 1.0
    duration_s: float = 5.0
    # Calls of the reference design per concurrency (each spawns Python, ~0.2-0.5 s of CPU).
    ref_calls: dict[int, int] = field(default_factory=lambda: {1: 20, 8: 40, 64: 128})
    reloads: int = 100
    reload_concurrency: int = 8
    startup_runs: int = 5
    # Old code against new and in-process onnxruntime, alternated round by round
    # in one run so that the shared machine's load hits each alike.
    compare_baseline: str = "d7a18f1"
    compare_rounds: int = 3
    compare_duration_s: float = 3.0
    # Labeling: rows for train.labels, and for the O(n²) reference (each capped in time).
    label_rows: tuple[int, ...] = (100_000, 1_000_000, 10_000_000)
    reference_label_rows: tuple[int, ...] = (1_000, 3_000, 10_000, 20_000)
    reference_label_timeout_s: float = 60.0
    # train fit: (rows, search, extra train-fit arguments), each capped in time. Grid search
    # tunes on a recent slice with 3 folds (train's own --tune-rows, --cv-folds): the full
    # 81-setting grid x 5 folds at train's default size takes longer than this whole budget.
    fit_runs: tuple[tuple[int, str, tuple[str, ...]], ...] = (
        (100_000, "fast", ()),
        (1_000_000, "fast", ()),
        (100_000, "grid", GRID_ARGS),
        (1_000_000, "grid", GRID_ARGS),
    )
    fit_timeout_s: float = 600.0
    # Model families (bench/families.py): (rows, families fitted with --no-report); the
    # early-stopped LightGBM reference is fitted at every size. gbm, rf and mlp take
    # minutes at 10^5 rows and are left to `make bench-scale`; at 10^6 the default's
    # own `train fit` row above is the one set beside the reference.
    family_runs: tuple[tuple[int, tuple[str, ...]], ...] = (
        (100_000, ("hgb", "lgbm", "xgb")),
        (1_000_000, ()),
    )
    # Rows above which grid search is not even attempted (see BENCHMARKS.md).
    grid_max_rows: int = 1_000_000
    pipe_timeout_s: float = 180.0
    # Other teams' suites (go test -bench, pytest -m bench), each capped.
    go_benchtime: str = "1s"
    suite_timeout_s: float = 240.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Budget(name="full")

QUICK = Budget(
    name="quick",
    total_s=3 * 60,
    reserve_before_decisions_s=90,
    reserve_s=30,
    warmup_s=0.2,
    duration_s=0.5,
    ref_calls={1: 3, 8: 8, 64: 64},
    reloads=10,
    reload_concurrency=8,
    startup_runs=2,
    compare_rounds=1,
    compare_duration_s=0.5,
    label_rows=(10_000, 100_000),
    reference_label_rows=(1_000, 3_000),
    reference_label_timeout_s=20.0,
    fit_runs=((20_000, "fast", ()), (20_000, "grid", GRID_ARGS)),
    fit_timeout_s=30.0,
    family_runs=((20_000, ("hgb",)),),
    grid_max_rows=20_000,
    pipe_timeout_s=60.0,
    go_benchtime="100ms",
    suite_timeout_s=90.0,
)
