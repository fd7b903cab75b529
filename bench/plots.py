"""PNG plots of the measured results (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.summary import LABELS, TARGET_ORDER


def _by_target(decisions: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    out: dict[str, dict[int, dict[str, Any]]] = {}
    for r in decisions:
        out.setdefault(r["target"], {})[r["concurrency"]] = r
    return out


def decisions(results: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Throughput and latency per target, one group of bars per goroutine count."""
    if not results:
        return []
    by = _by_target(results)
    targets = [t for t in TARGET_ORDER if t in by]
    concs = sorted({r["concurrency"] for r in results})
    width = 0.8 / len(targets)
    paths = []

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, t in enumerate(targets):
        xs = [j + i * width for j, c in enumerate(concs) if c in by[t]]
        ys = [by[t][c]["per_second"] for c in concs if c in by[t]]
        ax.bar(xs, ys, width, label=LABELS[t])
    ax.set_xticks([j + width * (len(targets) - 1) / 2 for j in range(len(concs))])
    ax.set_xticklabels([f"{c} goroutine{'s' if c > 1 else ''}" for c in concs])
    ax.set_yscale("log")
    ax.set_ylabel("decisions per second (log)")
    ax.set_title("Throughput from a Go client")
    ax.legend(fontsize=8)
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    paths.append(out_dir / "throughput.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(concs), figsize=(4 * len(concs), 4.5), sharey=True)
    axes = [axes] if len(concs) == 1 else list(axes)
    for ax, c in zip(axes, concs, strict=True):
        ts = [t for t in targets if c in by[t]]
        xs = range(len(ts))
        for k, (q, label) in enumerate((("p50", "p50"), ("p99", "p99"), ("p999", "p99.9"))):
            ax.bar(
                [x + (k - 1) * 0.27 for x in xs],
                [by[t][c]["latency_us"][q] for t in ts],
                0.27,
                label=label,
            )
        ax.set_xticks(list(xs))
        ax.set_xticklabels([LABELS[t] for t in ts], rotation=35, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"{c} goroutine{'s' if c > 1 else ''}")
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0].set_ylabel("latency per decision, µs (log)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Decision latency from a Go client")
    fig.tight_layout()
    paths.append(out_dir / "latency.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths


def labeling(lab: dict[str, Any], out_dir: Path) -> list[Path]:
    runs = [r for r in lab.get("runs", []) if r.get("rows_per_s")]
    if not runs:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for impl, label in (("fast", "train.labels"), ("reference", "O(n²) reference")):
        pts = sorted((r["rows"], r["rows_per_s"]) for r in runs if r["impl"] == impl)
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows")
    ax.set_ylabel("rows labelled per second")
    ax.set_title("Labeling throughput")
    ax.grid(which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = out_dir / "labeling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
